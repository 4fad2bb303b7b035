"""Backbones compared on one recipe: a row per finished run (parameters, FLOPs, CPU latency,
training time, final validation metric), as a markdown table and a metric-vs-latency plot.

The rows come from finished work dirs (:func:`emo_mm.analysis.results.read_run_metrics`, and
the run's own log for its wall time); parameters, FLOPs and latency from the built models
(:func:`emo_mm.analysis.complexity.model_complexity`, :func:`inference_latency`)."""
from __future__ import annotations

import os.path as osp
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from emo_mm.analysis.complexity import TensorForward
from emo_mm.analysis.results import RunLogError
from emo_mm.analysis.timing import time_round_robin
from emo_mm.models.layers import reparameterize

#: The metric each task's demos validate with, the table's default.
TASK_METRICS = {'mmdet': 'coco/bbox_mAP', 'mmseg': 'mIoU', 'mmpretrain': 'accuracy/top1'}

_LOG_TIME = re.compile(r'^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) - mmengine - ')


@dataclass(frozen=True)
class ComparisonRow:
    """One backbone's figures on one recipe."""

    name: str                 #: the config's stem
    config: str
    input_shape: Tuple[int, int, int]
    params: int               #: whole model at inference (auxiliary heads excluded)
    flops: int                #: tensor-mode forward at ``input_shape``
    latency_ms: float         #: median, batch 1, deploy form, tensor-mode forward
    train_s: float            #: the run's wall time (first to last line of its log)
    metric: str
    value: float              #: the metric at the run's last validation
    run_dir: str

    def as_dict(self) -> dict:
        return asdict(self)


def run_wall_seconds(run_dir: str) -> float:
    """Seconds from the first to the last timestamped line of a run folder's mmengine log
    (``<run_dir>/<timestamp>.log``): building, training and every validation."""
    log = osp.join(run_dir, f'{osp.basename(osp.normpath(run_dir))}.log')
    if not osp.isfile(log):
        raise RunLogError(f'no log in {run_dir} (expected {osp.basename(log)})')
    stamps = []
    with open(log, encoding='utf-8', errors='replace') as f:
        for line in f:
            match = _LOG_TIME.match(line)
            if match:
                stamps.append(match.group(1))
    if len(stamps) < 2:
        raise RunLogError(f'{log} has fewer than two timestamped lines: not a finished run')
    first, last = (datetime.strptime(s, '%Y/%m/%d %H:%M:%S') for s in (stamps[0], stamps[-1]))
    return (last - first).total_seconds()


def deploy_form(model: nn.Module) -> nn.Module:
    """The model as it is deployed: eval mode, EMOv2's BatchNorm / LayerScale folded
    (:func:`emo_mm.models.reparameterize`) and every re-parameterisable mmpretrain block
    (MobileOne, RepVGG: ``switch_to_deploy()``) fused."""
    reparameterize(model)
    for module in list(model.modules()):
        switch = getattr(module, 'switch_to_deploy', None)
        if callable(switch) and not getattr(module, 'deploy', False):
            switch()
    return model.eval()


def inference_latency(models: Dict[str, Tuple[nn.Module, Sequence[int]]], runs: int = 10,
                      warmup: int = 3) -> Dict[str, float]:
    """Median milliseconds of one batch-1 tensor-mode forward of each model's deploy form, on a
    random float32 image of its ``(C, H, W)``, without gradients: the benchmark tool's
    protocol (every model built first, warm-up, then timed round-robin so that load changes
    hit them alike)."""
    calls: Dict[str, Callable[[], object]] = {}
    for name, (model, shape) in models.items():
        forward = TensorForward(deploy_form(model))
        image = torch.randn(1, *shape)
        calls[name] = (lambda f=forward, x=image: f(x))
    with torch.no_grad():
        medians = time_round_robin(calls, runs=runs, warmup=warmup)
    return {name: seconds * 1000.0 for name, seconds in medians.items()}


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f'{minutes}m{secs:02d}s' if minutes else f'{secs}s'


def _metric_value(metric: str, value: float) -> str:
    # mmdet's COCO metrics are fractions; mmseg's mIoU and mmpretrain's accuracy percentages.
    return f'{value:.3f}' if value <= 1.0 and metric.startswith('coco/') else f'{value:.2f}'


def markdown_table(rows: Sequence[ComparisonRow]) -> str:
    """The comparison as a markdown table, best metric first."""
    metrics = sorted({row.metric for row in rows})
    header = ' / '.join(metrics)
    lines = [f'| backbone (config) | params | FLOPs | input | latency bs1 (ms) | train time | '
             f'{header} |', '|---|---|---|---|---|---|---|']
    for row in sorted(rows, key=lambda r: -r.value):
        lines.append(
            f'| {row.name} | {row.params / 1e6:.2f}M | {row.flops / 1e9:.3f}G | '
            f'{row.input_shape[1]}x{row.input_shape[2]} | {row.latency_ms:.1f} | '
            f'{_duration(row.train_s)} | {_metric_value(row.metric, row.value)} |')
    return '\n'.join(lines)


def comparison_figure(rows: Sequence[ComparisonRow], title: Optional[str] = None,
                      highlight: Callable[[str], bool] = lambda name: 'emo' in name):
    """Metric against latency, one labelled point per backbone (``highlight``-ed names,
    EMO by default, in red); returns the matplotlib figure."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    for row in rows:
        ours = highlight(row.name)
        ax.scatter(row.latency_ms, row.value, s=20 + row.params / 1e5,
                   color='tab:red' if ours else 'tab:blue', alpha=0.8, zorder=3)
        ax.annotate(row.name, (row.latency_ms, row.value), textcoords='offset points',
                    xytext=(4, 4), fontsize=7, color='tab:red' if ours else 'black')
    ax.set_xlabel('CPU latency, batch 1 (ms)')
    ax.set_ylabel(' / '.join(sorted({row.metric for row in rows})))
    ax.grid(alpha=0.3)
    ax.set_title(title or 'metric vs latency (marker area ~ parameters)')
    fig.tight_layout()
    return fig

