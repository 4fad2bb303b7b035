"""``tools/analysis/plot_curves.py``: loss and validation-metric curves of one or several runs,
overlaid, from their ``vis_data/scalars.json`` (:mod:`emo_mm.analysis.curves`)."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from emo_mm.analysis.curves import CurvesError, plot_curves

from .common import ToolError, run_command


def build_plot_curves_parser() -> argparse.ArgumentParser:
    """Arguments of tools/analysis/plot_curves.py."""
    parser = argparse.ArgumentParser(
        prog='plot_curves.py',
        description='Plot loss and validation metric curves of training runs (one subplot per '
        'key, one line per run) from mmengine\'s vis_data/scalars.json.')
    parser.add_argument('runs', nargs='+', metavar='WORK_DIR',
                        help='a work dir (its newest <timestamp> run), a run dir or a '
                        'scalars.json')
    parser.add_argument('--keys', nargs='+',
                        help='what to plot: training keys (loss, loss_cls, lr, ...) against the '
                        'iteration, validation metrics (coco/bbox_mAP, mIoU, accuracy/top1, ...) '
                        'against the epoch or iteration they were recorded at; train/KEY or '
                        'val/KEY picks one of a key both have (time). Default: loss and every '
                        'validation metric')
    parser.add_argument('--legend', nargs='+', help='one name per run (default: the work dir '
                        'names)')
    parser.add_argument('--title', help='title above the subplots')
    parser.add_argument('--out', default='curves.png',
                        help='image to write; the extension picks the format (default: '
                        'curves.png)')
    return parser


def run_plot_curves(args: argparse.Namespace) -> None:
    """tools/analysis/plot_curves.py."""
    try:
        out = plot_curves(args.runs, args.out, keys=args.keys, legend=args.legend,
                          title=args.title)
    except CurvesError as err:
        raise ToolError(str(err)) from err
    print(out)


def plot_curves_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of tools/analysis/plot_curves.py; returns the exit code."""
    return run_command(run_plot_curves, build_plot_curves_parser(), argv)
