"""What a finished run evaluated: the validation records of mmengine's
``vis_data/scalars.json`` (training) or the metrics of ``<timestamp>.json`` (``tools/test.py``)
in a work dir's timestamped run folders, read by :func:`emo_mm.analysis.curves.read_scalars`."""
from __future__ import annotations

import glob
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional

from emo_mm.analysis.curves import POSITION_KEYS, SCALARS_FILE, CurvesError, read_scalars


class RunLogError(Exception):
    """A work dir without readable evaluation results."""


@dataclass(frozen=True)
class RunMetrics:
    """The evaluation metrics of one run folder: ``values[key]`` is the metric's value at
    each evaluation, in logged order."""

    run_dir: str
    source: str                      #: the JSON file they were read from
    values: Dict[str, List[float]]
    #: the epoch or iteration (mmengine's ``step``) of the last validation; None for a test run
    evaluated_at: Optional[int] = None

    def final(self, key: str, reduce: str = 'last') -> float:
        """The metric at the last evaluation (``reduce='last'``) or its best (``'best'``,
        the maximum: every metric the zoo checks is higher-is-better)."""
        series = self.values[key]
        return max(series) if reduce == 'best' else series[-1]


def run_dirs(work_dir: str) -> List[str]:
    """The timestamped run folders of ``work_dir``, oldest first (``[work_dir]`` when it is a
    run folder itself)."""
    if not osp.isdir(work_dir):
        raise RunLogError(f'work dir not found: {work_dir}')
    if osp.isfile(osp.join(work_dir, 'vis_data', SCALARS_FILE)):
        return [work_dir]
    return sorted(d for d in glob.glob(osp.join(work_dir, '*')) if osp.isdir(d))


def _evaluations(run_dir: str) -> tuple[str, list] | None:
    """``(source, records)``: a test run's metrics, else a training run's validations."""
    name = osp.basename(osp.normpath(run_dir))
    for source in (osp.join(run_dir, f'{name}.json'),
                   osp.join(run_dir, 'vis_data', SCALARS_FILE)):
        if osp.isfile(source):
            try:
                records = read_scalars(source, name).val
            except CurvesError as err:
                raise RunLogError(str(err)) from err
            if records:
                return source, records
    return None


def read_run_metrics(work_dir: str) -> RunMetrics:
    """The metrics of the newest run in ``work_dir`` that evaluated anything."""
    for run_dir in reversed(run_dirs(work_dir)):
        found = _evaluations(run_dir)
        if found is None:
            continue
        source, records = found
        values: Dict[str, List[float]] = {}
        for record in records:
            for key, value in record.items():
                if key not in POSITION_KEYS and isinstance(value, (int, float)):
                    values.setdefault(key, []).append(float(value))
        last_step = records[-1].get('step')
        at_step = source.endswith(SCALARS_FILE) and isinstance(last_step, (int, float))
        return RunMetrics(run_dir, source, values, int(last_step) if at_step else None)
    raise RunLogError(f'no evaluation results in {work_dir}: no run folder there has '
                      f'validation scalars (vis_data/{SCALARS_FILE}) or test metrics '
                      '(<timestamp>.json); did the run reach its first validation?')


def training_length(train_cfg: Optional[dict]) -> Optional[tuple[str, int]]:
    """``('epoch', max_epochs)`` or ``('iteration', max_iters)`` of a config's ``train_cfg``;
    None when it sets neither."""
    train_cfg = train_cfg or {}
    for key, unit in (('max_epochs', 'epoch'), ('max_iters', 'iteration')):
        if train_cfg.get(key) is not None:
            return unit, int(train_cfg[key])
    return None


def unfinished_reason(metrics: RunMetrics, length: Optional[tuple[str, int]]) -> Optional[str]:
    """Why ``metrics`` is not the result of a whole training run (its last validation came
    before the last epoch / iteration), or None when it is (or cannot be told: a test run,
    a config without a training length). mmengine's loops always validate at the end."""
    if metrics.evaluated_at is None or length is None:
        return None
    unit, last = length
    if metrics.evaluated_at >= last:
        return None
    return (f'the newest validated run {metrics.run_dir} stopped early: its last validation '
            f'was at {unit} {metrics.evaluated_at} of {last}; resume it (tools/train.py '
            '--resume) or train it again')
