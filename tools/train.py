#!/usr/bin/env python
"""Train a detector (mmdet), segmentor (mmseg) or classifier (mmpretrain) from a config.

Usage: python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
       [--auto-scale-lr] [--cfg-options k=v ...] [--launcher {none,pytorch,slurm,mpi}]
See docs/tools.md; the logic lives in emo_mm.cli.train.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from emo_mm.cli.train import train_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(train_main())
