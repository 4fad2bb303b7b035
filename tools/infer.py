#!/usr/bin/env python
"""Run a trained detector, segmentor or classifier on images and save what it predicts.

Usage: python tools/infer.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] [--out-dir DIR]
       [--score-thr T] [--batch-size N] [--device DEV] [--cfg-options k=v ...]
See docs/tools.md; the logic lives in emo_mm.cli.infer.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from emo_mm.cli.infer import infer_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(infer_main())
