#!/usr/bin/env python
"""Test (and evaluate) a detector, segmentor or classifier checkpoint.

Usage: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
       [--show] [--show-dir DIR] [--wait-time S] [--tta] [--cfg-options k=v ...]
       [--launcher {none,pytorch,slurm,mpi}]
See docs/tools.md; the logic lives in emo_mm.cli.test.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from emo_mm.cli.test import test_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(test_main())
