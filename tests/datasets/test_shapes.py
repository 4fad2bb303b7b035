"""Tests for the synthetic shapes dataset generator (tiny sizes, CPU only)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_tool
from PIL import Image

from emo_mm.datasets import SHAPES_CLASSES, ensure_shapes, generate_shapes
from emo_mm.datasets.shapes import decode_rle, encode_rle

TINY = dict(num_train=6, num_val=3, img_size=96)


def _files(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file()}


def _coco(root: Path, split: str) -> dict:
    return json.loads((root / 'annotations' / f'instances_{split}.json').read_text())


@pytest.fixture(scope='module')
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_shapes(tmp_path_factory.mktemp('shapes') / 'data', seed=0, **TINY)


def test_layout(dataset: Path) -> None:
    for split, count in (('train', 6), ('val', 3)):
        images = sorted(p.name for p in (dataset / split / 'images').glob('*.png'))
        semantic = sorted(p.name for p in (dataset / split / 'semantic').glob('*.png'))
        assert len(images) == count and images == semantic
        img = Image.open(dataset / split / 'images' / images[0])
        sem = Image.open(dataset / split / 'semantic' / images[0])
        assert (img.mode, img.size) == ('RGB', (96, 96))
        assert (sem.mode, sem.size) == ('L', (96, 96))
    meta = json.loads((dataset / 'meta.json').read_text())
    assert meta['args'] == {'num_train': 6, 'num_val': 3, 'img_size': [96, 96], 'seed': 0}


def test_deterministic(dataset: Path, tmp_path: Path) -> None:
    same = generate_shapes(tmp_path / 'same', seed=0, **TINY)
    other = generate_shapes(tmp_path / 'other', seed=1, **TINY)
    reference = _files(dataset)
    assert _files(same) == reference
    other_files = _files(other)
    image = 'train/images/000000.png'
    assert other_files[image] != reference[image]
    assert other_files['annotations/instances_train.json'] != \
        reference['annotations/instances_train.json']


def test_rectangular_size(tmp_path: Path) -> None:
    root = generate_shapes(tmp_path / 'rect', num_train=1, num_val=0, img_size=(80, 48))
    assert Image.open(root / 'train' / 'images' / '000000.png').size == (80, 48)
    assert _coco(root, 'train')['images'][0]['width'] == 80


def test_coco_structure_and_masks(dataset: Path) -> None:
    for split in ('train', 'val'):
        coco = _coco(dataset, split)
        assert [c['id'] for c in coco['categories']] == list(range(1, len(SHAPES_CLASSES) + 1))
        assert [c['name'] for c in coco['categories']] == list(SHAPES_CLASSES)
        images = {img['id']: img for img in coco['images']}
        assert coco['annotations'], 'expected some objects'
        per_image: dict[int, int] = {}
        for ann in coco['annotations']:
            img = images[ann['image_id']]
            mask = decode_rle(ann['segmentation'])
            assert mask.shape == (img['height'], img['width'])
            ys, xs = np.nonzero(mask)
            x, y, w, h = ann['bbox']
            assert ann['iscrowd'] == 0 and ann['area'] == mask.sum() > 0
            assert 0 <= x and 0 <= y and x + w <= img['width'] and y + h <= img['height']
            assert [x, y, w, h] == [xs.min(), ys.min(), xs.max() + 1 - xs.min(),
                                    ys.max() + 1 - ys.min()]
            semantic = np.asarray(Image.open(dataset / split / 'semantic' / img['file_name']))
            assert np.all(semantic[mask] == ann['category_id'])
            per_image[img['id']] = per_image.get(img['id'], 0) + int(mask.sum())
        # The semantic map holds exactly the union of the instance masks.
        for img in coco['images']:
            semantic = np.asarray(Image.open(dataset / split / 'semantic' / img['file_name']))
            assert int((semantic > 0).sum()) == per_image.get(img['id'], 0)
            assert semantic.max() <= len(SHAPES_CLASSES)


def test_rle_roundtrip() -> None:
    rng = np.random.default_rng(0)
    for shape in ((1, 1), (7, 5), (33, 64)):
        for density in (0.0, 0.5, 1.0):
            mask = rng.random(shape) < density
            assert np.array_equal(decode_rle(encode_rle(mask)), mask)


def test_pycocotools(dataset: Path) -> None:
    mask_utils = pytest.importorskip('pycocotools.mask')
    from pycocotools.coco import COCO

    coco = COCO(str(dataset / 'annotations' / 'instances_train.json'))
    assert coco.getCatIds(catNms=list(SHAPES_CLASSES)) == [1, 2, 3, 4]
    for ann in coco.loadAnns(coco.getAnnIds()):
        mask = coco.annToMask(ann).astype(bool)
        assert np.array_equal(mask, decode_rle(ann['segmentation']))
        expected = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert expected['counts'].decode() == ann['segmentation']['counts']
        assert list(mask_utils.toBbox(ann['segmentation'])) == ann['bbox']


def test_crops(dataset: Path) -> None:
    for split in ('train', 'val'):
        coco = _coco(dataset, split)
        labels: dict[int, list[int]] = {}
        for ann in coco['annotations']:
            labels.setdefault(ann['image_id'] - 1, []).append(ann['category_id'] - 1)
        lines = (dataset / 'annotations' / f'crops_{split}.txt').read_text().splitlines()
        assert 0 < len(lines) <= len(coco['annotations'])
        present = {SHAPES_CLASSES[a['category_id'] - 1] for a in coco['annotations']}
        for name in SHAPES_CLASSES:
            assert (dataset / split / 'crops' / name).is_dir()
            assert any((dataset / split / 'crops' / name).glob('*.png')) == (name in present)
        files = {p.relative_to(dataset / split / 'crops').as_posix()
                 for p in (dataset / split / 'crops').rglob('*.png')}
        assert files == {line.rsplit(' ', 1)[0] for line in lines}
        for line in lines:
            rel, label = line.rsplit(' ', 1)
            class_name, file_name = rel.split('/')
            image_index, obj = (int(v) for v in Path(file_name).stem.split('_'))
            assert class_name == SHAPES_CLASSES[int(label)] == \
                SHAPES_CLASSES[labels[image_index][obj]]
            crop = Image.open(dataset / split / 'crops' / rel)
            assert (crop.mode, crop.size) == ('RGB', (64, 64))


def test_ensure_shapes(tmp_path: Path) -> None:
    root = tmp_path / 'shapes'
    ensure_shapes(root, **TINY)
    stamp = (root / 'meta.json').stat().st_mtime_ns
    marker = root / 'train' / 'images' / '000000.png'
    inode = marker.stat().st_ino
    assert ensure_shapes(root, **TINY) == root
    assert (root / 'meta.json').stat().st_mtime_ns == stamp
    assert marker.stat().st_ino == inode

    ensure_shapes(root, **{**TINY, 'num_train': 4})
    assert len(list((root / 'train' / 'images').glob('*.png'))) == 4
    assert json.loads((root / 'meta.json').read_text())['args']['num_train'] == 4
    assert not [p for p in tmp_path.iterdir() if p.name != 'shapes'], 'temp dirs left behind'


def test_ensure_regenerates_interrupted(tmp_path: Path) -> None:
    root = generate_shapes(tmp_path / 'shapes', **TINY)
    (root / 'meta.json').unlink()
    (root / 'val' / 'images' / '000002.png').unlink()
    ensure_shapes(root, **TINY)
    assert (root / 'meta.json').is_file()
    assert (root / 'val' / 'images' / '000002.png').is_file()


def test_overwrite_rules(tmp_path: Path) -> None:
    root = generate_shapes(tmp_path / 'shapes', **TINY)
    with pytest.raises(FileExistsError):
        generate_shapes(root, **TINY)
    generate_shapes(root, overwrite=True, **{**TINY, 'seed': 3})
    assert json.loads((root / 'meta.json').read_text())['args']['seed'] == 3
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError):
        ensure_shapes(foreign, **TINY)
    assert (foreign / 'notes.txt').read_text() == 'keep me'


@pytest.mark.e2e
def test_cli(tmp_path: Path) -> None:
    result = run_tool('dataset_converters/make_shapes.py', '--out', tmp_path / 'cli',
                      '--num-train', '2', '--num-val', '1', '--img-size', '64', '--seed', '5',
                      check=True)
    assert 'train: 2 images' in result.stdout
    assert json.loads((tmp_path / 'cli' / 'meta.json').read_text())['args']['seed'] == 5
