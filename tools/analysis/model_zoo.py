#!/usr/bin/env python
"""Write docs/model_zoo.md from model-index.yml and the metafiles.

Usage: python tools/analysis/model_zoo.py [--check]
The logic lives in emo_mm.cli.model_zoo.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.cli.model_zoo import model_zoo_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(model_zoo_main())
