#!/usr/bin/env python
"""Compile a config's model (or its backbone) ahead of time for CPU inference.

Usage: python tools/deployment/export_aot.py CONFIG [CHECKPOINT] [--part {model,features,backbone}]
       [--shape H [W]] [--batch N] [--out PACKAGE.pt2] [--runs N] [--cfg-options k=v ...]
See docs/tools.md; the logic lives in emo_mm.cli.export.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.cli.export import export_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(export_main())
