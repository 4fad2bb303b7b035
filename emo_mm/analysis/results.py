"""What a finished run evaluated: the validation records of mmengine's
``vis_data/scalars.json`` (training) or the metrics of ``<timestamp>.json`` (``tools/test.py``)
in a work dir's timestamped run folders, read by :func:`emo_mm.analysis.curves.read_scalars`."""
from __future__ import annotations

import glob
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List

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
        return RunMetrics(run_dir, source, values)
    raise RunLogError(f'no evaluation results in {work_dir}: no run folder there has '
                      f'validation scalars (vis_data/{SCALARS_FILE}) or test metrics '
                      '(<timestamp>.json); did the run reach its first validation?')
