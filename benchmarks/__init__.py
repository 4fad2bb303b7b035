"""Baselines that tools/analysis/benchmark.py compares emo_mm against (not part of the package)."""
