"""Loss and validation-metric curves of training runs, from mmengine's ``vis_data/scalars.json``.

mmengine's ``LocalVisBackend`` appends one JSON object per line to
``<work_dir>/<timestamp>/vis_data/scalars.json``: a training record every ``LoggerHook``
interval (``loss``, its terms, ``lr``, ``time``, ..., ``epoch``/``iter``, and ``step``, the
iteration) and a validation record per validation (the metrics, ``time``, ``data_time`` and
``step``: the epoch, or the iteration when ``log_metric_by_epoch=False``).
:func:`plot_curves` draws one subplot per key with one line per run, training keys against the
iteration and validation metrics against the step they were recorded at; ``tools/analysis/
plot_curves.py`` and :class:`~emo_mm.engine.PlotCurvesHook` call it.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence, Union

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn
    from matplotlib.figure import Figure

PathLike = Union[str, 'os.PathLike[str]']

#: File name mmengine's LocalVisBackend writes the scalars to, inside ``vis_data/``.
SCALARS_FILE = 'scalars.json'
#: Bookkeeping fields of the records: never curves of their own.
POSITION_KEYS = frozenset({'step', 'epoch', 'iter'})
#: Fields a validation record carries besides its metrics.
VAL_TIMING_KEYS = frozenset({'time', 'data_time'})
#: Prefixes that pick the training or validation records of a key present in both.
TRAIN_PREFIX, VAL_PREFIX = 'train/', 'val/'
_TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')


class CurvesError(ValueError):
    """Bad input for the curves (a missing run, no scalars, an unknown key): one line."""


@dataclass
class RunScalars:
    """The scalars of one training run."""

    name: str                  #: legend entry
    path: str                  #: the scalars.json they were read from
    train: list[dict] = field(default_factory=list)   #: training records, in order
    val: list[dict] = field(default_factory=list)     #: validation records, in order

    @property
    def train_keys(self) -> list[str]:
        """Keys with a training curve (every field but the position ones), first seen first."""
        return _keys(self.train, POSITION_KEYS)

    @property
    def val_keys(self) -> list[str]:
        """Validation metrics (``time`` and ``data_time`` included), first seen first."""
        return _keys(self.val, POSITION_KEYS)

    @property
    def val_metrics(self) -> list[str]:
        """Validation metrics without the timing fields."""
        return [key for key in self.val_keys if key not in VAL_TIMING_KEYS]

    @property
    def val_by_epoch(self) -> bool:
        """Whether validation steps are epochs: the training records count epochs and no
        validation step lies beyond the last epoch trained."""
        epochs = [rec['epoch'] for rec in self.train if _is_number(rec.get('epoch'))]
        steps = [rec['step'] for rec in self.val if _is_number(rec.get('step'))]
        return bool(epochs) and all(step <= max(epochs) for step in steps)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _keys(records: Sequence[dict], skip: frozenset) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            if key not in skip and _is_number(value):
                seen.setdefault(key, None)
    return list(seen)


def is_train_record(record: dict) -> bool:
    """Training records carry the iteration count (``iter``) or the learning rate."""
    return 'iter' in record or 'lr' in record


def read_scalars(path: PathLike, name: str) -> RunScalars:
    """Parse a scalars.json (one JSON object a line); a half-written last line (a killed run)
    is skipped, any other bad line is an error naming it."""
    path = os.fspath(path)
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise CurvesError(f'cannot read {path}: {err.strerror or err}') from err
    except UnicodeDecodeError as err:
        raise CurvesError(f'{path} is not a scalars.json (not text)') from err
    run = RunScalars(name=name, path=path)
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    for index, (number, line) in enumerate(numbered):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if index == len(numbered) - 1:
                continue
            raise CurvesError(f'{path}:{number} is not a JSON record ({err.msg})') from err
        if not isinstance(record, dict):
            raise CurvesError(f'{path}:{number} is not a JSON object')
        (run.train if is_train_record(record) else run.val).append(record)
    if not run.train and not run.val:
        raise CurvesError(f'{path} holds no records (the run logged nothing yet)')
    return run


def _run_dir_name(run_dir: str) -> str:
    """The work dir's name for a ``<work_dir>/<timestamp>`` run dir, else the dir's own."""
    run_dir = osp.abspath(run_dir)
    base = osp.basename(run_dir)
    return osp.basename(osp.dirname(run_dir)) if _TIMESTAMP.match(base) else base


def find_scalars(path: PathLike) -> tuple[str, str]:
    """``(scalars.json, run name)`` for a work dir (its newest ``<timestamp>`` run with a
    ``vis_data/scalars.json``), a run dir, a ``vis_data`` dir or a scalars file."""
    path = os.fspath(path)
    if not osp.exists(path):
        raise CurvesError(f'work dir not found: {path}')
    if osp.isfile(path):
        parent = osp.dirname(osp.abspath(path))
        run_dir = osp.dirname(parent) if osp.basename(parent) == 'vis_data' else parent
        return path, _run_dir_name(run_dir)
    if osp.isfile(osp.join(path, 'vis_data', SCALARS_FILE)):   # a run dir
        return osp.join(path, 'vis_data', SCALARS_FILE), _run_dir_name(path)
    if osp.isfile(osp.join(path, SCALARS_FILE)):   # its vis_data dir
        return osp.join(path, SCALARS_FILE), _run_dir_name(osp.dirname(osp.abspath(path)))
    runs = sorted((bool(_TIMESTAMP.match(entry)), entry) for entry in os.listdir(path)
                  if osp.isfile(osp.join(path, entry, 'vis_data', SCALARS_FILE)))
    if not runs:
        raise CurvesError(f'no vis_data/{SCALARS_FILE} in {path} nor in a run folder inside it '
                          '(was it trained with a LocalVisBackend, and has it logged yet?)')
    newest = runs[-1][1]
    return (osp.join(path, newest, 'vis_data', SCALARS_FILE),
            osp.basename(osp.abspath(path)))


def load_runs(paths: Sequence[PathLike],
              legend: Optional[Sequence[str]] = None) -> list[RunScalars]:
    """The scalars of each of ``paths`` (see :func:`find_scalars`), named by ``legend`` or
    by their work dirs."""
    if not paths:
        raise CurvesError('no work dir given')
    if legend is not None and len(legend) != len(paths):
        raise CurvesError(f'{len(legend)} legend entries for {len(paths)} runs; give one per run')
    runs = []
    for index, path in enumerate(paths):
        scalars, name = find_scalars(path)
        runs.append(read_scalars(scalars, legend[index] if legend is not None else name))
    return runs


def default_keys(runs: Sequence[RunScalars]) -> list[str]:
    """``loss`` (where recorded) and every validation metric of the runs."""
    keys = ['loss'] if any('loss' in run.train_keys for run in runs) else []
    for run in runs:
        keys += [key for key in run.val_metrics if key not in keys]
    return keys


def describe_keys(runs: Sequence[RunScalars]) -> str:
    """The keys the runs have, for error messages."""
    train = list(dict.fromkeys(key for run in runs for key in run.train_keys))
    val = list(dict.fromkeys(key for run in runs for key in run.val_keys))
    return (f"training keys: {', '.join(train) or 'none'}; "
            f"validation keys: {', '.join(val) or 'none'}")


def resolve_key(runs: Sequence[RunScalars], key: str) -> tuple[str, str]:
    """``(split, field)`` of a requested key: ``train/KEY`` or ``val/KEY`` pick a split, a
    bare key is a training curve where any run logged it in training, else a validation one."""
    for prefix, split in ((TRAIN_PREFIX, 'train'), (VAL_PREFIX, 'val')):
        name = key[len(prefix):]
        if key.startswith(prefix) and any(
                name in getattr(run, f'{split}_keys') for run in runs):
            return split, name
    if any(key in run.train_keys for run in runs):
        return 'train', key
    if any(key in run.val_keys for run in runs):
        return 'val', key
    where = runs[0].path if len(runs) == 1 else f'the scalars of {len(runs)} runs'
    raise CurvesError(f'unknown key {key!r} in {where}; {describe_keys(runs)}')


def _series(run: RunScalars, split: str, key: str) -> tuple[list[float], list[float]]:
    records = run.train if split == 'train' else run.val
    xs, ys = [], []
    for record in records:
        x, y = record.get('step', record.get('iter')), record.get(key)
        if _is_number(x) and _is_number(y) and math.isfinite(y):
            xs.append(x)
            ys.append(y)
    return xs, ys


def curves_figure(runs: Sequence[RunScalars], keys: Optional[Sequence[str]] = None,
                  title: Optional[str] = None) -> 'Figure':
    """A matplotlib figure (Agg canvas, no pyplot state) with one subplot per key and one
    line per run; ``keys`` default to :func:`default_keys`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    keys = list(keys) if keys else default_keys(runs)
    if not keys:
        raise CurvesError(f'nothing to plot in {runs[0].path}; {describe_keys(runs)}')
    resolved = [(key, *resolve_key(runs, key)) for key in keys]
    cols = min(len(resolved), 3)
    rows = math.ceil(len(resolved) / cols)
    fig = Figure(figsize=(5.0 * cols, 3.6 * rows), dpi=100, layout='constrained')
    FigureCanvasAgg(fig)
    colors = [f'C{index % 10}' for index in range(len(runs))]
    for index, (key, split, name) in enumerate(resolved):
        ax = fig.add_subplot(rows, cols, index + 1)
        by_epoch = split == 'val' and all(run.val_by_epoch for run in runs if run.val)
        for run, color in zip(runs, colors):
            xs, ys = _series(run, split, name)
            if not xs:
                continue
            if split == 'train':
                ax.plot(xs, ys, color=color, linewidth=1.2, label=run.name)
            else:
                ax.plot(xs, ys, 'o-', color=color, markersize=5, label=run.name)
                ax.annotate(f'{ys[-1]:.4g}', (xs[-1], ys[-1]), textcoords='offset points',
                            xytext=(4, 4), fontsize=8, color=color)
        ax.set_title(key if split == 'train' else f'{name} (validation)', fontsize=10)
        ax.set_xlabel('iteration' if split == 'train' or not by_epoch else 'epoch')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if split == 'val':
            ax.margins(x=0.1, y=0.15)   # room for the last values' labels
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, 'not recorded', ha='center', va='center', transform=ax.transAxes)
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(paths: Sequence[PathLike], out: PathLike, keys: Optional[Sequence[str]] = None,
                legend: Optional[Sequence[str]] = None, title: Optional[str] = None) -> str:
    """Draw the curves of the runs in ``paths`` (work dirs, run dirs or scalars files) into
    the image ``out`` (format from its extension: .png, .svg, .pdf, ...); returns its path."""
    runs = load_runs(paths, legend)
    fig = curves_figure(runs, keys, title)
    out = os.fspath(out)
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    try:
        fig.savefig(out)
    except (OSError, ValueError) as err:  # unwritable folder, unknown image format
        raise CurvesError(f'cannot write {out}: {err}') from err
    return out
