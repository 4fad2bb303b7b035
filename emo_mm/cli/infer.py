"""``tools/infer.py``: run a trained detector, segmentor or classifier on image files and
save what it predicts, as pictures (``vis/``) and as data (``preds/``).

The OpenMMLab inferencers (``DetInferencer``, ``MMSegInferencer``,
``ImageClassificationInferencer``) do the work; this module checks the input first (images
readable, checkpoint fits the model strictly), gives them the class names of the config's
dataset when the checkpoint carries none, and writes one prediction file per image in the
same layout for every task.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
from pathlib import Path
from typing import Any, Optional, Sequence

import mmcv
import numpy as np
from mmengine.config import Config, DictAction

from emo_mm.checkpoint import load_model
from emo_mm.engine import has_deploy_form
from emo_mm.models import reparameterize

from .common import (CFG_OPTIONS_HELP, ToolError, add_deploy_form_arg, dataset_meta,
                     load_config, require_file, run_command)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def build_infer_parser() -> argparse.ArgumentParser:
    """Arguments of tools/infer.py."""
    parser = argparse.ArgumentParser(
        description='Run a detector, segmentor or classifier on images; save painted '
        'predictions (vis/) and the predictions themselves (preds/).')
    parser.add_argument('config', help='the config the checkpoint was trained with')
    parser.add_argument('checkpoint', help='checkpoint of that model (tools/train.py output)')
    parser.add_argument('inputs', nargs='+', help='image files and/or folders of images')
    parser.add_argument('--out-dir', help='where vis/ and preds/ go (default: '
                        '<work_dir>/infer, work_dir as in tools/train.py)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: draw boxes scoring at least this (all are saved)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--device', default=None,
                        help="torch device (default: 'cuda' when available, else 'cpu')")
    add_deploy_form_arg(parser, 'inference')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)
    return parser


# ----------------------------------------------------------------- input checks
def collect_images(inputs: Sequence[str]) -> list[str]:
    """Image paths from files and folders (a folder's images sorted by name); every one
    must be readable, and names must be unique (outputs are named after them)."""
    images = []
    for item in inputs:
        if osp.isdir(item):
            found = sorted(str(p) for p in Path(item).iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ToolError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in folder {item}')
            images += found
        else:
            require_file(item, 'image')
            images.append(item)
    for path in images:
        try:
            image = mmcv.imread(path)
        except Exception as err:  # noqa: BLE001 - decoders raise many types
            raise ToolError(f'cannot read image {path}: {type(err).__name__}: {err}') from err
        if image is None or image.size == 0:
            raise ToolError(f'cannot read image {path}: corrupt or not an image')
    stems: dict[str, str] = {}
    for path in images:
        other = stems.setdefault(Path(path).stem, path)
        if other != path:
            raise ToolError(f'{other} and {path} have the same name; their outputs would '
                            'overwrite each other. Run them separately or rename one.')
    return images


# ----------------------------------------------------------------- per-task adapters
def _native(value: Any) -> Any:
    """numpy / torch values as JSON-ready Python numbers and lists."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


class _Detection:
    """mmdet ``DetInferencer``; a prediction is every box with label, class and score."""

    def build(self, cfg: Config, checkpoint: str, device: Optional[str], meta: dict) -> Any:
        from mmdet.apis import DetInferencer
        inferencer = DetInferencer(model=cfg, weights=checkpoint, device=device,
                                   show_progress=False)
        inferencer.model.dataset_meta = meta
        inferencer.visualizer.dataset_meta = meta
        return inferencer

    def run(self, inferencer: Any, images: list, out_dir: Path, args) -> list:
        result = inferencer(images, batch_size=args.batch_size, out_dir=str(out_dir),
                            pred_score_thr=args.score_thr, return_datasamples=True,
                            no_save_pred=True)
        return result['predictions']

    def record(self, sample: Any, classes: Sequence[str], pred_dir: Path, stem: str) -> dict:
        instances = sample.pred_instances
        labels, scores, boxes = (_native(instances.labels), _native(instances.scores),
                                 _native(instances.bboxes))
        return {'instances': [
            {'label': label, 'class': classes[label], 'score': round(score, 5),
             'bbox_xyxy': [round(v, 2) for v in box]}
            for label, score, box in zip(labels, scores, boxes)]}


class _Segmentation:
    """mmseg ``MMSegInferencer``; a prediction is a label map (PNG) and class areas."""

    def build(self, cfg: Config, checkpoint: str, device: Optional[str], meta: dict) -> Any:
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(model=cfg, weights=checkpoint, device=device,
                                     classes=list(meta['classes']), palette=meta.get('palette'))
        # its visualizer takes exactly these keys from the model's dataset_meta
        inferencer.model.dataset_meta = dict(classes=meta['classes'], palette=meta.get('palette'))
        return inferencer

    def run(self, inferencer: Any, images: list, out_dir: Path, args) -> list:
        preds = inferencer(images, batch_size=args.batch_size, out_dir=str(out_dir),
                           return_datasamples=True)
        return preds if isinstance(preds, list) else [preds]

    def record(self, sample: Any, classes: Sequence[str], pred_dir: Path, stem: str) -> dict:
        label_map = sample.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8)
        mmcv.imwrite(label_map, str(pred_dir / f'{stem}.png'))
        labels, counts = np.unique(label_map, return_counts=True)
        return {'label_map': f'{stem}.png', 'class_fractions': {
            classes[label]: round(count / label_map.size, 5)
            for label, count in zip(labels.tolist(), counts.tolist())}}


class _Classification:
    """mmpretrain ``ImageClassificationInferencer``; a prediction is the class scores."""

    def build(self, cfg: Config, checkpoint: str, device: Optional[str], meta: dict) -> Any:
        from mmpretrain.apis import ImageClassificationInferencer
        inferencer = ImageClassificationInferencer(model=cfg, pretrained=checkpoint,
                                                   device=device, classes=meta['classes'])
        inferencer.model.dataset_meta = meta
        return inferencer

    def run(self, inferencer: Any, images: list, out_dir: Path, args) -> list:
        vis_dir = out_dir / 'vis'
        vis_dir.mkdir(parents=True, exist_ok=True)
        return inferencer(images, batch_size=args.batch_size, show_dir=str(vis_dir),
                          return_datasamples=True)

    def record(self, sample: Any, classes: Sequence[str], pred_dir: Path, stem: str) -> dict:
        scores = _native(sample.pred_score)
        best = int(np.argmax(scores))
        return {'label': best, 'class': classes[best], 'score': round(scores[best], 5),
                'scores': {name: round(s, 5) for name, s in zip(classes, scores)}}


TASK_ADAPTERS = {'mmdet': _Detection(), 'mmseg': _Segmentation(),
                 'mmpretrain': _Classification()}


# ----------------------------------------------------------------- command
def run_infer(args: argparse.Namespace) -> None:
    """tools/infer.py."""
    if args.batch_size < 1:
        raise ToolError(f'--batch-size must be at least 1, got {args.batch_size}')
    cfg, spec = load_config(args.config, args.cfg_options, 'none', None)
    require_file(args.checkpoint, 'checkpoint')
    images = collect_images(args.inputs)
    # The inferencers load weights leniently (missing keys are only a warning): check
    # strictly before building one, and load strictly into it (official layouts too).
    load_model(spec.build_model(cfg), args.checkpoint)
    meta = dataset_meta(cfg, spec, args.checkpoint)
    out_dir = Path(args.out_dir or osp.join(cfg.work_dir, 'infer'))
    pred_dir = out_dir / 'preds'
    pred_dir.mkdir(parents=True, exist_ok=True)

    adapter = TASK_ADAPTERS[spec.scope]
    spec.register_modules()
    inferencer = adapter.build(cfg, args.checkpoint, args.device, meta)
    load_model(inferencer.model, args.checkpoint)
    backbone = getattr(inferencer.model, 'backbone', None)
    if args.deploy_form and backbone is not None and has_deploy_form(backbone):
        reparameterize(backbone)    # the inferencer's own copy; the checkpoint is untouched
    samples = adapter.run(inferencer, images, out_dir, args)
    classes = list(meta['classes'])
    for path, sample in zip(images, samples):
        stem = Path(path).stem
        record = {'image': path, **adapter.record(sample, classes, pred_dir, stem)}
        (pred_dir / f'{stem}.json').write_text(json.dumps(record, indent=1) + '\n')
    print(f'{len(images)} image(s): painted predictions in {out_dir / "vis"}, '
          f'predictions in {pred_dir}')


def infer_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of tools/infer.py; returns the exit code."""
    return run_command(run_infer, build_infer_parser(), argv)
