"""``tools/analysis/get_flops.py``: parameters and FLOPs of configs (backbone and whole
model) as a markdown table, beside the paper's figures from the model index.

Counting convention (:func:`emo_mm.analysis.complexity.model_complexity`): one multiply-add
is one FLOP (fvcore / mmengine); convolutions, matmuls, attention and BatchNorm / LayerNorm
count, activations and additions do not; the whole model is its tensor-mode forward (raw
head outputs: no box decoding / NMS, no upsampling of the segmentation logits, auxiliary
heads not run but their parameters counted) on one image of the configured test input:
the classifier's centre crop (or, for images stored at the size they are used, such as the
shapes crops, the train pipeline's crop), the detector's test resize (keep-ratio scales as a
landscape ``short x long`` image) padded to the data preprocessor's divisor, the segmentor's
crop size.
"""
from __future__ import annotations

import argparse
import glob
import math
import os.path as osp
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config

from emo_mm.analysis.complexity import count_flops, count_params, model_complexity
from emo_mm.analysis.model_index import ModelIndexError, ZooModel, find_model, load_model_index
from emo_mm.cli.common import ToolError, load_config, run_command


@dataclass(frozen=True)
class Complexity:
    """Parameters and FLOPs of one config's model, and the input they were counted at."""

    config: str
    input_shape: Tuple[int, int, int]
    params: int
    flops: int
    backbone_params: int
    backbone_flops: int


def _pipeline_size(pipeline: Sequence[Mapping]) -> Optional[Tuple[int, int]]:
    """``(H, W)`` a test pipeline produces, from its last resize or crop."""
    size = None
    for step in pipeline:
        kind = str(step.get('type', '')).split('.')[-1]
        if kind == 'RandomResizedCrop':
            scale = step['scale']
            size = (scale, scale) if isinstance(scale, int) else (scale[1], scale[0])
        elif kind == 'CenterCrop':
            crop = step['crop_size']
            size = (crop, crop) if isinstance(crop, int) else (crop[1], crop[0])
        elif kind in ('Resize', 'ResizeEdge') and 'scale' in step:
            scale = step['scale']
            if isinstance(scale, int):
                size = (scale, scale)
            elif step.get('keep_ratio', kind == 'ResizeEdge'):
                size = (min(scale), max(scale))
            else:
                size = (scale[1], scale[0])
    return size


def flops_input_shape(cfg: Config) -> Tuple[int, int, int]:
    """``(3, H, W)`` a config's model is counted at (see the module docstring)."""
    preprocessor = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    if preprocessor.get('size'):          # mmseg: every image is padded to the crop size
        height, width = preprocessor['size']
        return 3, int(height), int(width)
    size = None
    for loader in ('test_dataloader', 'train_dataloader'):
        dataset = cfg.get(loader, {}).get('dataset', {})
        while 'pipeline' not in dataset and 'dataset' in dataset:
            dataset = dataset.dataset
        size = _pipeline_size(dataset.get('pipeline', []))
        if size is not None:
            break
    if size is None:
        raise ToolError(f'cannot tell the input size of {cfg.filename}: neither its test nor '
                        'its train pipeline has a Resize / CenterCrop / RandomResizedCrop')
    divisor = preprocessor.get('pad_size_divisor') or 1
    height, width = (int(math.ceil(s / divisor) * divisor) for s in size)
    return 3, height, width


def config_complexity(config_path: str, cfg_options: Optional[dict] = None,
                      backbone: bool = True) -> Complexity:
    """Count a config's model (built on CPU, weights not loaded); ``backbone=False`` skips
    counting the backbone on its own (its figures are then 0)."""
    cfg, spec = load_config(config_path, cfg_options, 'none', None)
    model = spec.build_model(cfg)
    shape = flops_input_shape(cfg)
    params, flops = model_complexity(model, shape)
    if not backbone:
        return Complexity(config_path, shape, params, flops, 0, 0)
    return Complexity(config_path, shape, params, flops, count_params(model.backbone),
                      count_flops(model.backbone, (1, *shape)))


def _millions(value: float) -> str:
    return f'{value / 1e6:.2f}M'


def _giga(value: float) -> str:
    return f'{value / 1e9:.3f}G' if value < 1e10 else f'{value / 1e9:.1f}G'


def _reported(model: Optional[ZooModel], key: str) -> str:
    value = model.metadata.get(key) if model else None
    return str(value) if value is not None else '-'


def markdown_table(rows: List[Tuple[Complexity, Optional[ZooModel]]]) -> str:
    """The table ``get_flops.py`` prints."""
    lines = ['| config | input | backbone params | backbone FLOPs | params | FLOPs | '
             'paper params | paper FLOPs |',
             '|---|---|---|---|---|---|---|---|']
    for c, model in rows:
        lines.append(
            f'| `{c.config}` | {c.input_shape[1]}x{c.input_shape[2]} | '
            f'{_millions(c.backbone_params)} | {_giga(c.backbone_flops)} | '
            f'{_millions(c.params)} | {_giga(c.flops)} | {_reported(model, "Reported Parameters")} | '
            f'{_reported(model, "Reported FLOPs")} |')
    return '\n'.join(lines)


def paper_configs(root: str = 'configs') -> List[str]:
    """Every config under ``root`` except bases, demos and custom-data templates."""
    return sorted(p for p in glob.glob(osp.join(root, '**', '*.py'), recursive=True)
                  if not {'_base_', 'demo', 'custom'} & set(p.split(osp.sep)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='get_flops.py',
        description='Parameters and FLOPs (backbone and whole model) of configs, as a markdown '
                    "table beside the paper's figures. " + __doc__.split('\n\n')[1].replace(
                        '\n', ' '))
    parser.add_argument('configs', nargs='*', metavar='CONFIG',
                        help='configs to count (default: every paper config under configs/)')
    parser.add_argument('--model-index', default='model-index.yml',
                        help="where the paper's figures are read (default: %(default)s)")
    parser.add_argument('--out', help='also write the table to this markdown file')
    return parser


def get_flops(args: argparse.Namespace) -> None:
    configs = args.configs or paper_configs()
    try:
        models = load_model_index(args.model_index) if osp.isfile(args.model_index) else []
    except ModelIndexError as err:
        raise ToolError(str(err)) from err
    rows = []
    for config in configs:
        rows.append((config_complexity(config), find_model(models, config)))
        print(f'counted {config}', flush=True)
    table = markdown_table(rows)
    print(table)
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(table + '\n')


def get_flops_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tools/analysis/get_flops.py``."""
    return run_command(get_flops, build_parser(), argv)
