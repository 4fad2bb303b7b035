#!/usr/bin/env python
"""Compare finished runs' final metrics with the model zoo's expected values.

Usage: python tools/analysis/check_results.py WORK_DIR [WORK_DIR ...] [--tolerance 0.5]
       [--reduce {last,best}] [--model NAME] [--model-index model-index.yml]
Exit code 1 when a run falls short by more than the tolerance, 2 for bad input.
The logic lives in emo_mm.cli.check_results.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.cli.check_results import check_results_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(check_results_main())
