"""Drawing one synthetic scene: 2-6 shapes of four classes with random sizes, aspect ratios,
rotations and colours over a textured background with blobs and lines (clutter); later
objects occlude earlier ones, and every instance keeps its visible pixels."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SHAPES_CLASSES = ('circle', 'triangle', 'rectangle', 'star')
#: RGB colour per class, for visualisation only (object colours in images are random).
SHAPES_PALETTE = ((220, 20, 60), (0, 130, 230), (30, 170, 60), (250, 170, 30))
#: Label order of the semantic maps (index 0 is background).
SHAPES_SEG_CLASSES = ('background', ) + SHAPES_CLASSES
SHAPES_SEG_PALETTE = ((0, 0, 0), ) + SHAPES_PALETTE

# Geometry, as fractions of a 256 px image (scaled to the actual size).
_REF_SIZE = 256
_MIN_OBJ, _MAX_OBJ = 16, 100          # object extent range, px at 256
_MIN_VISIBLE_PX = 40                  # min visible pixels at 256x256
_MIN_VISIBLE_FRACTION = 0.3           # min visible / full polygon area
_OBJECTS_PER_IMAGE = (2, 6)           # inclusive
_MIN_CONTRAST = 60.0                  # RGB distance of object colour to what is below it
# Per-class range of minor/major axis ratio.
_ASPECT_RANGE = {'circle': (0.45, 1.0), 'triangle': (0.6, 1.0), 'rectangle': (0.3, 1.0),
                 'star': (0.8, 1.0)}

SizeLike = Union[int, Sequence[int]]


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
def as_size(img_size: SizeLike) -> tuple[int, int]:
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

