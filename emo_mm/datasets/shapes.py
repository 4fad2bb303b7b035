"""Deterministic generator of a small synthetic "shapes" dataset in COCO format.

One call writes, from a single seed, everything the detection, segmentation and
classification demos need::

    out_dir/
      train/images/000000.png ...     RGB images
      train/semantic/000000.png ...   uint8 label maps: 0 = background, k = class index + 1
      train/crops/<class>/*.png       64x64 single-object crops (mmpretrain CustomDataset layout)
      val/...                         same layout as train
      annotations/instances_{train,val}.json   COCO instances (compressed RLE masks)
      annotations/crops_{train,val}.txt        mmpretrain ann files, paths relative to <split>/crops
      meta.json                       generator version + arguments, written last

Masks, boxes and areas describe the *visible* pixels of each object (later objects
occlude earlier ones). Only numpy and Pillow are needed; RLE strings are produced by
a pure-Python port of the pycocotools encoder, so the output does not depend on
whether pycocotools is installed.

CLI: ``python -m emo_mm.datasets.shapes --out data/shapes [--num-train N ...]``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    'GENERATOR_VERSION', 'SHAPES_CLASSES', 'SHAPES_PALETTE', 'SHAPES_SEG_CLASSES',
    'SHAPES_SEG_PALETTE', 'CROP_SIZE', 'generate_shapes', 'ensure_shapes',
    'encode_rle', 'decode_rle', 'main'
]

GENERATOR_NAME = 'emo_mm.datasets.shapes'
GENERATOR_VERSION = 1

SHAPES_CLASSES = ('circle', 'triangle', 'rectangle', 'star')
#: RGB colour per class, for visualisation only (object colours in images are random).
SHAPES_PALETTE = ((220, 20, 60), (0, 130, 230), (30, 170, 60), (250, 170, 30))
#: Label order of the semantic maps (index 0 is background).
SHAPES_SEG_CLASSES = ('background', ) + SHAPES_CLASSES
SHAPES_SEG_PALETTE = ((0, 0, 0), ) + SHAPES_PALETTE

CROP_SIZE = 64
SPLITS = ('train', 'val')

# Geometry, as fractions of a 256 px image (scaled to the actual size).
_REF_SIZE = 256
_MIN_OBJ, _MAX_OBJ = 16, 100          # object extent range, px at 256
_MIN_VISIBLE_PX = 40                  # min visible pixels at 256x256
_MIN_VISIBLE_FRACTION = 0.3           # min visible / full polygon area
_OBJECTS_PER_IMAGE = (2, 6)           # inclusive
_MIN_CONTRAST = 60.0                  # RGB distance of object colour to what is below it
_CROP_CONTEXT = 1.4                   # crop side / max(bbox w, bbox h)
# Per-class range of minor/major axis ratio.
_ASPECT_RANGE = {'circle': (0.45, 1.0), 'triangle': (0.6, 1.0), 'rectangle': (0.3, 1.0),
                 'star': (0.8, 1.0)}

SizeLike = Union[int, Sequence[int]]
PathLike = Union[str, Path]


@dataclass(frozen=True)
class Sample:
    """One rendered image with its visible instances."""

    image: np.ndarray           # (H, W, 3) uint8
    labels: list[int]           # class index per instance
    owner: np.ndarray           # (H, W) int16: instance index owning each pixel, -1 = background

    def visible_mask(self, index: int) -> np.ndarray:
        """Boolean mask of the visible pixels of instance ``index``."""
        return self.owner == index

    def semantic_map(self) -> np.ndarray:
        """uint8 map: 0 = background, class index + 1 elsewhere."""
        lut = np.array([0] + [label + 1 for label in self.labels], dtype=np.uint8)
        return lut[self.owner.astype(np.int64) + 1]


# --------------------------------------------------------------------------- geometry
def _as_size(img_size: SizeLike) -> tuple[int, int]:
    """Normalise ``img_size`` (int or (width, height)) to ``(width, height)``."""
    if isinstance(img_size, (int, np.integer)):
        width = height = int(img_size)
    else:
        width, height = (int(v) for v in img_size)
    if min(width, height) < 32:
        raise ValueError(f'img_size must be at least 32 px, got {img_size!r}')
    return width, height


def _unit_outline(cls_name: str, rng: np.random.Generator) -> np.ndarray:
    """Vertices (N, 2) of a class outline with major extent about [-1, 1]."""
    if cls_name == 'circle':
        t = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    if cls_name == 'rectangle':
        return np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    if cls_name == 'triangle':
        angles = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3 + rng.uniform(-0.35, 0.35, 3)
        radii = rng.uniform(0.75, 1.0, 3)
    elif cls_name == 'star':
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.38, 0.55))
    else:
        raise ValueError(f'unknown class {cls_name!r}')
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _random_polygon(label: int, rng: np.random.Generator, width: int,
                    height: int) -> np.ndarray:
    """Random size/aspect/rotation/position polygon (N, 2) in pixel coordinates."""
    cls_name = SHAPES_CLASSES[label]
    scale = min(width, height) / _REF_SIZE
    extent = math.exp(rng.uniform(math.log(_MIN_OBJ), math.log(_MAX_OBJ))) * scale
    aspect = rng.uniform(*_ASPECT_RANGE[cls_name])
    angle = rng.uniform(0.0, 2 * np.pi)
    centre = rng.uniform([0.05 * width, 0.05 * height], [0.95 * width, 0.95 * height])
    points = _unit_outline(cls_name, rng) * np.array([extent / 2, extent * aspect / 2])
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return points @ rot.T + centre


def _polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a closed polygon."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _rasterize(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Boolean (H, W) mask of a polygon, clipped to the image."""
    canvas = Image.new('L', (width, height), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in points.tolist()], fill=1)
    return np.asarray(canvas, dtype=bool)


def _layout_objects(rng: np.random.Generator, width: int,
                    height: int) -> tuple[list[int], list[np.ndarray], np.ndarray]:
    """Place objects back to front; reject any that leaves some object too occluded.

    Returns the labels, the full (unoccluded) masks and the pixel owner map.
    """
    target = int(rng.integers(_OBJECTS_PER_IMAGE[0], _OBJECTS_PER_IMAGE[1] + 1))
    min_px = max(8, round(_MIN_VISIBLE_PX * width * height / _REF_SIZE**2))
    labels: list[int] = []
    masks: list[np.ndarray] = []
    areas: list[float] = []
    owner = np.full((height, width), -1, dtype=np.int16)
    for _ in range(4 * target):
        if len(labels) == target:
            break
        label = int(rng.integers(len(SHAPES_CLASSES)))
        polygon = _random_polygon(label, rng, width, height)
        mask = _rasterize(polygon, width, height)
        trial = owner.copy()
        trial[mask] = len(labels)
        visible = np.bincount(trial.ravel() + 1, minlength=len(labels) + 2)[1:]
        full_areas = areas + [_polygon_area(polygon)]
        if np.all(visible >= np.maximum(min_px, _MIN_VISIBLE_FRACTION * np.array(full_areas))):
            labels.append(label)
            masks.append(mask)
            areas = full_areas
            owner = trial
    return labels, masks, owner


# --------------------------------------------------------------------------- rendering
def _coords(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate grids (x, y), float32."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return x, y


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Linear two-colour gradient in a random direction, float32 (H, W, 3)."""
    start, end = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    angle = rng.uniform(0.0, 2 * np.pi)
    x, y = _coords(width, height)
    t = x * math.cos(angle) + y * math.sin(angle)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return start + (end - start) * t[..., None]


def _blend(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """In place: ``canvas = canvas * (1 - alpha) + colour * alpha``."""
    alpha = alpha[..., None]
    canvas *= 1.0 - alpha
    canvas += alpha * colour


def _add_blobs(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Soft, blurred colour blobs (background clutter without crisp edges)."""
    height, width = canvas.shape[:2]
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(0.08, 0.3) * min(width, height)
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        layer = Image.new('L', (width, height), 0)
        ImageDraw.Draw(layer).ellipse(
            [cx - radius, cy - radius * rng.uniform(0.4, 1.0), cx + radius, cy + radius], fill=255)
        layer = layer.filter(ImageFilter.GaussianBlur(radius / 2))
        alpha = np.asarray(layer, dtype=np.float32) / 255.0 * rng.uniform(0.3, 0.7)
        _blend(canvas, alpha, rng.uniform(0, 255, 3).astype(np.float32))


def _add_lines(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Thin straight lines and random-walk scribbles (clutter that is not an object)."""
    height, width = canvas.shape[:2]
    line_scale = max(1, round(min(width, height) / _REF_SIZE * 2))
    for _ in range(int(rng.integers(2, 7))):
        start = rng.uniform([0, 0], [width, height])
        if rng.random() < 0.5:
            points = np.stack([start, rng.uniform([0, 0], [width, height])])
        else:
            steps = rng.normal(0, 0.08 * min(width, height), (int(rng.integers(3, 8)), 2))
            points = start + np.cumsum(np.vstack([[0, 0], steps]), axis=0)
        layer = Image.new('L', (width, height), 0)
        ImageDraw.Draw(layer).line([tuple(p) for p in points.tolist()], fill=255,
                                   width=int(rng.integers(1, line_scale + 1)), joint='curve')
        alpha = np.asarray(layer, dtype=np.float32) / 255.0 * rng.uniform(0.5, 0.9)
        _blend(canvas, alpha, rng.uniform(0, 255, 3).astype(np.float32))


def _contrasting_colour(rng: np.random.Generator, below: np.ndarray) -> np.ndarray:
    """Random RGB colour far enough from the mean colour ``below`` (best of a few tries)."""
    candidates = rng.uniform(0, 255, (8, 3)).astype(np.float32)
    distances = np.linalg.norm(candidates - below, axis=1)
    good = np.flatnonzero(distances >= _MIN_CONTRAST)
    return candidates[good[0] if good.size else int(np.argmax(distances))]


def _paint_object(canvas: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> None:
    """Fill ``mask`` with a contrasting colour plus a linear shading gradient."""
    if not mask.any():
        return
    colour = _contrasting_colour(rng, canvas[mask].mean(axis=0))
    ys, xs = np.nonzero(mask)
    angle = rng.uniform(0.0, 2 * np.pi)
    proj = xs * math.cos(angle) + ys * math.sin(angle)
    proj = (proj - proj.mean()) / max(float(np.ptp(proj)), 1.0)  # about [-0.5, 0.5]
    shade = rng.uniform(0.0, 50.0) * proj
    canvas[ys, xs] = colour + shade[:, None].astype(np.float32)


def render_sample(rng: np.random.Generator, width: int, height: int) -> Sample:
    """Render one image: gradient + blobs + lines, objects back to front, then noise."""
    labels, masks, owner = _layout_objects(rng, width, height)
    canvas = _background(rng, width, height)
    _add_blobs(canvas, rng)
    _add_lines(canvas, rng)
    for mask in masks:
        _paint_object(canvas, mask, rng)
    canvas += rng.normal(0.0, rng.uniform(2.0, 8.0), canvas.shape).astype(np.float32)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return Sample(image=image, labels=labels, owner=owner)


# --------------------------------------------------------------------------- COCO RLE
def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a boolean (H, W) mask; same string as pycocotools."""
    flat = np.asarray(mask, dtype=bool).ravel(order='F')
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    chars = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            chars.append(chr((c | 0x20 if more else c) + 48))
    return {'counts': ''.join(chars), 'size': [int(mask.shape[0]), int(mask.shape[1])]}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """Boolean (H, W) mask from a COCO compressed RLE (inverse of :func:`encode_rle`)."""
    height, width = rle['size']
    counts: list[int] = []
    text, pos = rle['counts'], 0
    while pos < len(text):
        x, shift, more = 0, 0, True
        while more:
            c = ord(text[pos]) - 48
            x |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            pos += 1
            shift += 5
            if not more and c & 0x10:
                x |= -1 << shift
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    values = np.arange(len(counts)) % 2 == 1
    flat = np.repeat(values, counts)
    return flat.reshape((width, height)).T


def _mask_bbox(mask: np.ndarray) -> list[float]:
    """COCO ``[x, y, w, h]`` of the non-zero pixels (pixel-extent convention)."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() + 1 - x0), float(ys.max() + 1 - y0)]


# --------------------------------------------------------------------------- writing
def _write_png(path: Path, array: np.ndarray) -> None:
    """Save a uint8 array as PNG with fixed settings (byte-reproducible)."""
    Image.fromarray(array).save(path, format='PNG', compress_level=6, optimize=False)


def _write_json(path: Path, obj: Any, indent: int | None = None) -> None:
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


def _generate_split(root: Path, split: str, num_images: int, size: tuple[int, int],
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
    _write_json(root / 'annotations' / f'instances_{split}.json', coco)
    (root / 'annotations' / f'crops_{split}.txt').write_text(
        ''.join(line + '\n' for line in crop_lines), encoding='utf-8')
    return {'images': num_images, 'instances': len(annotations), 'crops': len(crop_lines),
            'per_class': dict(zip(SHAPES_CLASSES, per_class))}


# --------------------------------------------------------------------------- dataset dir
_DATASET_ENTRIES = {'train', 'val', 'annotations', 'meta.json'}


def _normalised_args(num_train: int, num_val: int, img_size: SizeLike,
                     seed: int) -> dict[str, Any]:
    """Validated generator arguments, as recorded in meta.json."""
    if num_train < 0 or num_val < 0:
        raise ValueError('num_train and num_val must be >= 0')
    if seed < 0:
        raise ValueError('seed must be >= 0')
    return {'num_train': int(num_train), 'num_val': int(num_val),
            'img_size': list(_as_size(img_size)), 'seed': int(seed)}


def _read_meta(out_dir: Path) -> dict[str, Any] | None:
    """Parsed meta.json, or None if absent/unreadable."""
    try:
        return json.loads((out_dir / 'meta.json').read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def _is_complete(out_dir: Path, args: dict[str, Any]) -> bool:
    """True if ``out_dir`` holds a finished dataset generated with ``args``."""
    meta = _read_meta(out_dir)
    if not meta or meta.get('generator') != GENERATOR_NAME or \
            meta.get('version') != GENERATOR_VERSION or meta.get('args') != args:
        return False
    for split, count in (('train', args['num_train']), ('val', args['num_val'])):
        for sub in ('images', 'semantic'):
            folder = out_dir / split / sub
            if not folder.is_dir() or sum(1 for _ in folder.glob('*.png')) != count:
                return False
        for ann in (f'instances_{split}.json', f'crops_{split}.txt'):
            if not (out_dir / 'annotations' / ann).is_file():
                return False
    return True


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to delete a directory that does not look like a shapes dataset."""
    unknown = sorted(p.name for p in out_dir.iterdir() if p.name not in _DATASET_ENTRIES)
    if unknown:
        raise FileExistsError(f'{out_dir} does not look like a shapes dataset (found '
                              f'{unknown[:5]}); refusing to overwrite it')


def _install(tmp_dir: Path, out_dir: Path) -> None:
    """Move the finished ``tmp_dir`` to ``out_dir``, replacing it if present."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.old-', dir=out_dir.parent))
        os.replace(out_dir, old / 'data')
    os.replace(tmp_dir, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def generate_shapes(out_dir: PathLike, num_train: int = 320, num_val: int = 80,
                    img_size: SizeLike = 256, seed: int = 0, overwrite: bool = False) -> Path:
    """Generate the shapes dataset into ``out_dir`` and return its path.

    Args:
        out_dir: Destination directory (created; must be absent or empty unless
            ``overwrite``).
        num_train: Number of train images.
        num_val: Number of val images.
        img_size: Image size, an int or ``(width, height)``.
        seed: Non-negative seed; same arguments give byte-identical files.
        overwrite: Replace an existing dataset directory.

    The dataset is written to a temporary sibling directory (``meta.json`` last)
    and renamed into place, so an interrupted run never leaves a complete-looking
    partial dataset.
    """
    out_dir = Path(out_dir)
    args = _normalised_args(num_train, num_val, img_size, seed)
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(f'{out_dir} exists; use overwrite=True (CLI: --overwrite) '
                                  'to replace it')
        _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f'.{out_dir.name}.partial-', dir=out_dir.parent))
    try:
        (tmp_dir / 'annotations').mkdir()
        splits = {split: _generate_split(tmp_dir, split, args[f'num_{split}'],
                                         tuple(args['img_size']), seed) for split in SPLITS}
        meta = {'generator': GENERATOR_NAME, 'version': GENERATOR_VERSION, 'args': args,
                'classes': list(SHAPES_CLASSES), 'splits': splits}
        _write_json(tmp_dir / 'meta.json', meta, indent=2)
        _install(tmp_dir, out_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return out_dir


def ensure_shapes(out_dir: PathLike, *, num_train: int = 320, num_val: int = 80,
                  img_size: SizeLike = 256, seed: int = 0) -> Path:
    """Return ``out_dir``, (re)generating it unless it already holds this exact dataset.

    A dataset counts as complete when ``meta.json`` (written last) records the
    current generator version and the same arguments, and the expected files exist.
    Not safe to call from several processes at once: call it before launching
    distributed jobs.
    """
    out_dir = Path(out_dir)
    if _is_complete(out_dir, _normalised_args(num_train, num_val, img_size, seed)):
        return out_dir
    return generate_shapes(out_dir, num_train=num_train, num_val=num_val, img_size=img_size,
                           seed=seed, overwrite=True)


# --------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description='Generate the synthetic shapes dataset.')
    parser.add_argument('--out', required=True, help='output directory, e.g. data/shapes')
    parser.add_argument('--num-train', type=int, default=320)
    parser.add_argument('--num-val', type=int, default=80)
    parser.add_argument('--img-size', type=int, nargs='+', default=[256],
                        help='S, or W H')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing dataset at --out')
    opts = parser.parse_args(argv)
    if len(opts.img_size) not in (1, 2):
        parser.error('--img-size takes S or W H')
    size = opts.img_size[0] if len(opts.img_size) == 1 else tuple(opts.img_size)
    start = time.perf_counter()
    try:
        out_dir = generate_shapes(opts.out, opts.num_train, opts.num_val, size, opts.seed,
                                  opts.overwrite)
    except (FileExistsError, ValueError) as err:
        parser.exit(1, f'error: {err}\n')
    meta = _read_meta(out_dir) or {}
    print(f'wrote {out_dir} in {time.perf_counter() - start:.1f}s '
          f'(img_size {meta["args"]["img_size"]}, seed {opts.seed})')
    for split, info in meta['splits'].items():
        classes = ', '.join(f'{c} {info["per_class"][c]}' for c in SHAPES_CLASSES)
        print(f'  {split}: {info["images"]} images, {info["instances"]} instances ({classes}), '
              f'{info["crops"]} crops')
        print(f'    {out_dir / split / "images"}, {out_dir / split / "semantic"}, '
              f'{out_dir / split / "crops"}')
        print(f'    {out_dir / "annotations" / f"instances_{split}.json"}, '
              f'{out_dir / "annotations" / f"crops_{split}.txt"}')


if __name__ == '__main__':
    main()
