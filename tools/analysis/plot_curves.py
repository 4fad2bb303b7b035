#!/usr/bin/env python
"""Plot loss and validation metric curves of one or several training runs, overlaid.

Usage: python tools/analysis/plot_curves.py WORK_DIR [WORK_DIR ...] [--keys loss coco/bbox_mAP]
       [--legend NAME ...] [--title T] [--out curves.png]
See docs/tools.md; the logic lives in emo_mm.analysis.curves (the CLI in emo_mm.cli.plot_curves).
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.cli.plot_curves import plot_curves_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(plot_curves_main())
