"""Writing rendered scenes as the files the three codebases read: PNG images and semantic maps,
COCO instances (boxes, areas and compressed RLE masks by pycocotools), and 64 px
single-object crops with mmpretrain annotation lists."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from .render import SHAPES_CLASSES, Sample, render_sample

GENERATOR_VERSION = 1
CROP_SIZE = 64
SPLITS = ('train', 'val')
_CROP_CONTEXT = 1.4                   # crop side / max(bbox w, bbox h)


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a boolean (H, W) mask, with a JSON-ready ``counts`` string."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    return {'counts': rle['counts'].decode('ascii'), 'size': [int(s) for s in rle['size']]}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """Boolean (H, W) mask from a COCO compressed RLE (inverse of :func:`encode_rle`)."""
    counts = rle['counts']
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    return mask_utils.decode({'size': list(rle['size']), 'counts': counts}).astype(bool)


def _mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, w, h]`` of the non-zero pixels (pixel-extent convention)."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() + 1 - x0), float(ys.max() + 1 - y0)]


def _write_png(path: Path, array: np.ndarray) -> None:
    """Save a uint8 array as PNG with fixed settings (byte-reproducible)."""
    Image.fromarray(array).save(path, format='PNG', compress_level=6, optimize=False)


def write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    """Write JSON with sorted keys and fixed separators."""
    separators = (',', ': ') if indent else (',', ':')
    path.write_text(json.dumps(obj, sort_keys=True, indent=indent, separators=separators) + '\n',
                    encoding='utf-8')


def _crop_box(bbox: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Square box around ``bbox`` with context margin, shifted to lie inside the image."""
    x, y, w, h = bbox
    side = min(max(8, math.ceil(max(w, h) * _CROP_CONTEXT)), width, height)
    left = min(max(0, round(x + w / 2 - side / 2)), width - side)
    top = min(max(0, round(y + h / 2 - side / 2)), height - side)
    return left, top, left + side, top + side


def _dominates_crop(owner: np.ndarray, index: int, box: tuple[int, int, int, int]) -> bool:
    """True if instance ``index`` has the most visible pixels of all objects in ``box``.

    Skips crops whose label would be ambiguous (a larger occluder in view).
    """
    left, top, right, bottom = box
    region = owner[top:bottom, left:right].ravel().astype(np.int64) + 1
    counts = np.bincount(region, minlength=index + 2)[1:]
    return bool(counts[index] == counts.max())


def _image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """Independent RNG stream per (seed, split, image); no overlap between seeds."""
    return np.random.default_rng([seed, SPLITS.index(split), index])


def _instance_annotations(sample: Sample, image_id: int, first_id: int) -> list[dict[str, Any]]:
    """COCO annotations (visible bbox, area and RLE mask) of one sample."""
    annotations = []
    for obj, label in enumerate(sample.labels):
        mask = sample.visible_mask(obj)
        annotations.append({
            'id': first_id + obj, 'image_id': image_id, 'category_id': label + 1,
            'bbox': _mask_bbox(mask), 'area': float(mask.sum()), 'iscrowd': 0,
            'segmentation': encode_rle(mask)})
    return annotations


def _write_crops(sample: Sample, annotations: list[dict[str, Any]], stem: str,
                 crop_dir: Path) -> list[str]:
    """Write one square crop per unambiguous object; return ``'<class>/<file> <label>'`` lines."""
    height, width = sample.owner.shape
    pil_image = Image.fromarray(sample.image)
    lines = []
    for obj, (label, ann) in enumerate(zip(sample.labels, annotations)):
        box = _crop_box(ann['bbox'], width, height)
        if not _dominates_crop(sample.owner, obj, box):
            continue
        name = f'{SHAPES_CLASSES[label]}/{stem}_{obj}.png'
        crop = pil_image.crop(box).resize((CROP_SIZE, CROP_SIZE), Image.Resampling.BILINEAR)
        _write_png(crop_dir / name, np.asarray(crop))
        lines.append(f'{name} {label}')
    return lines


def write_split(root: Path, split: str, num_images: int, size: tuple[int, int],
                    seed: int) -> dict[str, Any]:
    """Write images, semantic maps, crops and annotation files of one split."""
    width, height = size
    image_dir, semantic_dir, crop_dir = (root / split / d for d in ('images', 'semantic', 'crops'))
    for directory in (image_dir, semantic_dir, *(crop_dir / c for c in SHAPES_CLASSES)):
        directory.mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    crop_lines: list[str] = []
    for index in range(num_images):
        sample = render_sample(_image_rng(seed, split, index), width, height)
        stem = f'{index:06d}'
        _write_png(image_dir / f'{stem}.png', sample.image)
        _write_png(semantic_dir / f'{stem}.png', sample.semantic_map())
        images.append({'id': index + 1, 'file_name': f'{stem}.png', 'width': width,
                       'height': height})
        new = _instance_annotations(sample, index + 1, len(annotations) + 1)
        crop_lines += _write_crops(sample, new, stem, crop_dir)
        annotations += new
    per_class = [sum(a['category_id'] == i + 1 for a in annotations)
                 for i in range(len(SHAPES_CLASSES))]
    coco = {
        'info': {'description': f'synthetic shapes ({split})', 'version': str(GENERATOR_VERSION)},
        'licenses': [],
        'images': images,
        'annotations': annotations,
        'categories': [{'id': i + 1, 'name': n, 'supercategory': 'shape'}
                       for i, n in enumerate(SHAPES_CLASSES)],
    }
    write_json(root / 'annotations' / f'instances_{split}.json', coco)
    (root / 'annotations' / f'crops_{split}.txt').write_text(
        ''.join(line + '\n' for line in crop_lines), encoding='utf-8')
    return {'images': num_images, 'instances': len(annotations), 'crops': len(crop_lines),
            'per_class': dict(zip(SHAPES_CLASSES, per_class))}
