#!/usr/bin/env python
"""Export a config's model (or its backbone) to ONNX with dynamic batch, height and width.

Usage: python tools/deployment/export_onnx.py CONFIG [CHECKPOINT] [--part {model,features,backbone}]
       [--shape H [W]] [--check HxW ...] [--static] [--out FILE.onnx] [--cfg-options k=v ...]
See docs/deployment.md; the logic lives in emo_mm.cli.export.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.cli.export import export_onnx_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(export_onnx_main())
