"""``tools/analysis/check_results.py``: a finished run's metrics beside the model zoo's.

For each work dir: the model is the metafile entry whose config has the file name of the
config the run dumped into its work dir (or ``--model NAME``); its metrics are the newest
run folder's evaluations (:func:`emo_mm.analysis.results.read_run_metrics`). Exit code 1 when
any metric falls below the expected value by more than ``--tolerance`` points.
"""
from __future__ import annotations

import argparse
import glob
import os.path as osp
from typing import List, Optional, Sequence

from emo_mm.analysis.model_index import (METRIC_KEYS, ModelIndexError, ZooModel, find_model,
                                         load_model_index)
from emo_mm.analysis.results import RunLogError, read_run_metrics
from emo_mm.cli.common import ToolError, run_command


class ResultsBelowExpected(Exception):
    """At least one run fell short of the zoo's figures."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='check_results.py',
        description="Print a finished run's final metrics beside the model zoo's expected "
                    'values; exit 1 if one falls short by more than the tolerance.')
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR')
    parser.add_argument('--model-index', default='model-index.yml',
                        help='model-index.yml or a single metafile (default: %(default)s)')
    parser.add_argument('--model', help='metafile model name (default: found from the config '
                        'file name in the work dir; only with one work dir)')
    parser.add_argument('--tolerance', type=float, default=0.5,
                        help='points (percent) a metric may fall below the expected value '
                        '(default: %(default)s)')
    parser.add_argument('--reduce', choices=['last', 'best'], default='last',
                        help='the last evaluation of the run, or its best (the paper reports '
                        'the best epoch for ImageNet) (default: %(default)s)')
    return parser


def model_of(work_dir: str, models: List[ZooModel], name: Optional[str]) -> ZooModel:
    """The zoo model a work dir was trained from."""
    if not osp.isdir(work_dir):
        raise ToolError(f'work dir not found: {work_dir}')
    if name:
        for model in models:
            if model.name == name:
                return model
        raise ToolError(f'no model named {name} in the model index; names: '
                        + ', '.join(m.name for m in models))
    configs = sorted(glob.glob(osp.join(work_dir, '*.py')))
    for config in configs:
        if (model := find_model(models, config)) is not None:
            return model
    found = ', '.join(osp.basename(c) for c in configs) or 'no config dump'
    raise ToolError(f'{work_dir}: no model-index entry for the config it was trained from '
                    f'({found}); pass --model NAME')


def compare(work_dir: str, model: ZooModel, tolerance: float, reduce: str) -> bool:
    """Print the run's metrics beside ``model``'s; True if none is short by > tolerance."""
    run = read_run_metrics(work_dir)
    print(f'{model.name} ({model.config}) vs {run.source}')
    if not model.metrics:
        raise ToolError(f'model {model.name} has no expected results in {model.metafile}')
    print(f'  {"metric":<16} {"expected":>9} {"run":>9} {"diff":>8}')
    passed = True
    for metric, expected in model.metrics.items():
        key, factor = METRIC_KEYS[metric]
        if key not in run.values:
            print(f'  {metric:<16} {expected:>9.2f} {"missing":>9}          FAIL (no {key} '
                  'in the run)')
            passed = False
            continue
        value = run.final(key, reduce) * factor
        diff = value - expected
        ok = diff >= -tolerance
        passed &= ok
        print(f'  {metric:<16} {expected:>9.2f} {value:>9.2f} {diff:>+8.2f}'
              f'  {"ok" if ok else "FAIL"}')
    return passed


def check_results(args: argparse.Namespace) -> None:
    if args.model and len(args.work_dirs) > 1:
        raise ToolError('--model names the model of one work dir; give one work dir with it')
    try:
        models = load_model_index(args.model_index)
        results = [compare(work_dir, model_of(work_dir, models, args.model), args.tolerance,
                           args.reduce) for work_dir in args.work_dirs]
    except (ModelIndexError, RunLogError) as err:
        raise ToolError(str(err)) from err
    short = results.count(False)
    if short:
        raise ResultsBelowExpected(f'{short} of {len(results)} run(s) below the expected '
                                   f'results by more than {args.tolerance} points')
    print(f'all {len(results)} run(s) within {args.tolerance} points of the expected results')


def check_results_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tools/analysis/check_results.py``: exit code 0 when every run meets
    its expected results, 1 when one falls short, 2 for bad input."""
    try:
        return run_command(check_results, build_parser(), argv)
    except ResultsBelowExpected as err:
        print(f'check_results.py: {err}')
        return 1
