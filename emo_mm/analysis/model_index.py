"""The model zoo as data: OpenMMLab model-index files (``model-index.yml`` importing
``configs/{cls,det,seg}/metafile.yml``), one :class:`ZooModel` per paper row, and the map from
a metafile metric name to the scalar a run logs.

A metafile model looks like::

    - Name: retinanet_emov2_5m
      In Collection: RetinaNet-EMOv2
      Config: configs/det/retinanet_emov2_5m.py
      Metadata: {Training Data: COCO, Epochs: 12, Batch Size: 16, Training Resources: 4x GPUs,
                 Parameters: 14392172, FLOPs: ..., Input Size: [800, 1333], ...}
      Results:
        - {Task: Object Detection, Dataset: COCO, Metrics: {box AP: 41.5, ...}}
      Weights: null

``Parameters`` and ``FLOPs`` are what the configured model has (counted by
:func:`emo_mm.analysis.complexity.config_complexity`, one multiply-add = one FLOP, at
``Input Size``); ``Reported Parameters`` / ``Reported FLOPs`` are the paper's figures.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import yaml

#: Metafile metric name -> (scalar key a run logs, factor from the logged value to the metric).
METRIC_KEYS: Dict[str, Tuple[str, float]] = {
    'Top 1 Accuracy': ('accuracy/top1', 1.0),
    'box AP': ('coco/bbox_mAP', 100.0),
    'box AP@0.5': ('coco/bbox_mAP_50', 100.0),
    'box AP@0.75': ('coco/bbox_mAP_75', 100.0),
    'box AP (small)': ('coco/bbox_mAP_s', 100.0),
    'box AP (medium)': ('coco/bbox_mAP_m', 100.0),
    'box AP (large)': ('coco/bbox_mAP_l', 100.0),
    'mask AP': ('coco/segm_mAP', 100.0),
    'mIoU': ('mIoU', 1.0),
    'aAcc': ('aAcc', 1.0),
    'mAcc': ('mAcc', 1.0),
}


class ModelIndexError(Exception):
    """A model-index or metafile that cannot be read or is malformed."""


@dataclass(frozen=True)
class ZooResult:
    """One ``Results`` item: a task, a dataset and its expected metrics."""

    task: str
    dataset: str
    metrics: Dict[str, float]


@dataclass(frozen=True)
class ZooModel:
    """One metafile model (one paper row, or a config without a published result)."""

    name: str
    collection: str
    config: str                       #: path relative to the repository root
    metadata: Dict[str, Any]
    results: List[ZooResult] = field(default_factory=list)
    weights: Optional[str] = None
    metafile: str = ''                #: the metafile it was read from

    @property
    def metrics(self) -> Dict[str, float]:
        """Every expected metric of the model, over all its results."""
        merged: Dict[str, float] = {}
        for result in self.results:
            merged.update(result.metrics)
        return merged


def _read_yaml(path: str) -> Any:
    if not osp.isfile(path):
        raise ModelIndexError(f'model index file not found: {path}')
    try:
        with open(path, encoding='utf-8') as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as err:
        raise ModelIndexError(f'{path} is not valid YAML: {err}'.splitlines()[0]) from err


def _parse_model(item: Any, metafile: str) -> ZooModel:
    if not isinstance(item, dict) or 'Name' not in item or 'Config' not in item:
        raise ModelIndexError(f'{metafile}: every model needs a Name and a Config, got {item!r}')
    results = []
    for result in item.get('Results') or []:
        metrics = result.get('Metrics') or {}
        unknown = sorted(set(metrics) - set(METRIC_KEYS))
        if unknown:
            raise ModelIndexError(f'{metafile}: model {item["Name"]} has unknown metrics '
                                  f'{unknown}; known: {sorted(METRIC_KEYS)}')
        results.append(ZooResult(result.get('Task', ''), result.get('Dataset', ''),
                                 {k: float(v) for k, v in metrics.items()}))
    return ZooModel(name=item['Name'], collection=item.get('In Collection', ''),
                    config=item['Config'], metadata=dict(item.get('Metadata') or {}),
                    results=results, weights=item.get('Weights'), metafile=metafile)


def load_metafile(path: str) -> Tuple[List[dict], List[ZooModel]]:
    """The collections and models of one metafile."""
    data = _read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ModelIndexError(f'{path}: expected a mapping with Collections / Models')
    return list(data.get('Collections') or []), \
        [_parse_model(item, path) for item in data.get('Models') or []]


def metafiles_of(path: str) -> List[str]:
    """The metafiles a ``model-index.yml`` imports (relative to its folder), or ``[path]``
    for a metafile."""
    data = _read_yaml(path) or {}
    if isinstance(data, dict) and 'Import' in data:
        root = osp.dirname(osp.abspath(path))
        return [osp.join(root, p) for p in data['Import']]
    return [path]


def load_collections(path: str = 'model-index.yml') -> Dict[str, dict]:
    """The collections of a model index or metafile, by name."""
    return {c['Name']: c for metafile in metafiles_of(path)
            for c in load_metafile(metafile)[0]}


def load_model_index(path: str = 'model-index.yml') -> List[ZooModel]:
    """Every model of a ``model-index.yml`` (its ``Import`` list of metafiles, relative to
    the index's folder) or of a single metafile; names must be unique."""
    models: List[ZooModel] = []
    for metafile in metafiles_of(path):
        models.extend(load_metafile(metafile)[1])
    seen: Dict[str, str] = {}
    for model in models:
        if model.name in seen:
            raise ModelIndexError(f'model name {model.name} appears twice '
                                  f'({seen[model.name]}, {model.metafile})')
        seen[model.name] = model.metafile
    return models


def find_model(models: List[ZooModel], config_path: str) -> Optional[ZooModel]:
    """The model whose config has ``config_path``'s file name (work dirs keep only the
    name of the config they were trained from)."""
    name = osp.basename(config_path)
    matches = [m for m in models if osp.basename(m.config) == name]
    return matches[0] if len(matches) == 1 else None


def _gpus(model: ZooModel) -> int:
    resources = str(model.metadata.get('Training Resources', '1x GPUs'))
    return int(resources.split('x')[0])


def _figure(value: Any, unit: float) -> str:
    if value is None:
        return '-'
    scaled = float(value) / unit
    return f'{scaled:.3g}' if scaled < 10 else f'{scaled:.1f}'


def render_model_zoo(models: List[ZooModel], collections: Dict[str, dict]) -> str:
    """docs/model_zoo.md: one table per collection (every row's config, GPUs x batch,
    parameters, FLOPs and expected metrics), then the commands that train and test a row."""
    lines = [
        '# Model zoo',
        '',
        '<!-- Generated by `python tools/analysis/model_zoo.py` from model-index.yml and '
        'configs/*/metafile.yml; do not edit by hand (tests/analysis/test_model_index.py '
        'checks it is up to date). -->',
        '',
        "Every row of the paper's tables, as recorded in the metafiles (`model-index.yml`). "
        'Parameters and FLOPs are those of the configured model, counted by '
        '`tools/analysis/get_flops.py` (one multiply-add = one FLOP, at the input in the '
        'table; the paper\'s own figures are beside them in the metafiles and in '
        '`get_flops.py`\'s table). Expected metrics are the paper\'s; none of these rows has '
        'been re-trained here (no GPU, no datasets), so they are targets, not our results. '
        'Check a finished run against its row with '
        '`python tools/analysis/check_results.py WORK_DIR`.',
        '',
        'Released weights exist only for the ImageNet classifiers (file names in the '
        '*weights* column); the detection and segmentation configs start from them '
        '(`checkpoints/EMOv2_*_224.pth`).',
        '']
    by_collection: Dict[str, List[ZooModel]] = {}
    for model in models:
        by_collection.setdefault(model.collection, []).append(model)
    for name, rows in by_collection.items():
        info = collections.get(name, {})
        metrics = list(dict.fromkeys(m for row in rows for m in row.metrics))
        data = rows[0].metadata.get('Training Data', '')
        lines += [f'## {name}', '']
        if info.get('README'):
            lines += [f'{data}; recipe and notes: [{osp.basename(info["README"])}]'
                      f'({osp.relpath(info["README"], "docs")}).', '']
        header = ['model', 'config', 'input', 'GPUs x batch', 'schedule', 'params (M)',
                  'FLOPs (G)', 'paper params / FLOPs'] + metrics + ['weights']
        lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
        for row in rows:
            meta = row.metadata
            gpus = _gpus(row)
            batch = int(meta.get('Batch Size', gpus))
            size = meta.get('Input Size') or ['?', '?']
            schedule = (f'{meta["Epochs"]} epochs' if 'Epochs' in meta
                        else f'{meta.get("Iterations", "?")} iters')
            cells = [row.name, f'`{row.config}`', f'{size[0]}x{size[1]}',
                     f'{gpus} x {batch // gpus}', schedule,
                     _figure(meta.get('Parameters'), 1e6), _figure(meta.get('FLOPs'), 1e9),
                     f'{meta["Reported Parameters"]} / {meta["Reported FLOPs"]}'
                     if 'Reported FLOPs' in meta else '-']
            cells += [f'{row.metrics[m]:.1f}' if m in row.metrics else '-' for m in metrics]
            cells.append(f'`{row.weights}`' if row.weights else '-')
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
    lines += [
        '## Train and test a row',
        '',
        'With `CONFIG` a row\'s config and `GPUS` its GPU count (the batch per GPU is in the '
        'config; with fewer GPUs, keep the total batch or scale the learning rate with '
        '`--auto-scale-lr`):',
        '',
        '```bash',
        '# one node',
        'bash tools/dist_train.sh CONFIG GPUS',
        'bash tools/dist_test.sh CONFIG work_dirs/<config stem>/<checkpoint>.pth GPUS',
        '# Slurm (GPUS tasks in all, GPUS_PER_NODE per node)',
        'GPUS=GPUS GPUS_PER_NODE=GPUS bash tools/slurm_train.sh PARTITION JOB CONFIG '
        'work_dirs/<config stem>',
        '# then: the run against its row',
        'python tools/analysis/check_results.py work_dirs/<config stem>',
        '```',
        '',
        'Example, RetinaNet-5M on 4 GPUs: `bash tools/dist_train.sh '
        'configs/det/retinanet_emov2_5m.py 4`. See [distributed.md](distributed.md) for '
        'multi-node and preemptible Slurm jobs.',
        '']
    return '\n'.join(lines)
