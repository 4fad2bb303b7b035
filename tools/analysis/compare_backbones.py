#!/usr/bin/env python
"""Train backbones on one recipe one after the other, and compare their finished runs.

Usage: python tools/analysis/compare_backbones.py {train,table} CONFIG... [options]
The logic lives in emo_mm.cli.compare_backbones; the configs in configs/*/demo/compare/.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.cli.compare_backbones import compare_backbones_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(compare_backbones_main())
