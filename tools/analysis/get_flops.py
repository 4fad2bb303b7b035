#!/usr/bin/env python
"""Parameters and FLOPs (backbone and whole model) of configs as a markdown table,
beside the paper's figures.

Usage: python tools/analysis/get_flops.py [CONFIG ...] [--out table.md]
(no CONFIG: every paper config under configs/)
The logic lives in emo_mm.cli.get_flops.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.cli.get_flops import get_flops_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(get_flops_main())
