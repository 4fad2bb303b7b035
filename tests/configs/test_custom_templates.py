"""The your-own-dataset templates (configs/{det,cls,seg}/custom/, docs/custom_dataset.md): the
class names are the one thing to edit for another number of classes, everything else is the
demo's recipe (or, through the commented base, the paper's), a missing data folder is an error
that names the key to fix, and each template trains 2 iterations through tools/train.py on a
tiny dataset of its layout written here (coloured rectangles, not emo_mm's shapes) and reports
its metric."""
import importlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT, run_tool
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

import emo_mm.cls  # noqa: F401  (registers emo_mm's modules in each codebase)
import emo_mm.det  # noqa: F401
import emo_mm.seg  # noqa: F401

TEMPLATES = {
    'det': ('configs/det/custom/retinanet_emov2_1m_custom.py',
            'configs/det/demo/retinanet_emov2_1m_shapes.py'),
    'cls': ('configs/cls/custom/emov2_1m_custom.py', 'configs/cls/demo/emov2_1m_shapes.py'),
    'seg': ('configs/seg/custom/deeplabv3_emov2_1m_custom.py',
            'configs/seg/demo/deeplabv3_emov2_1m_shapes.py'),
}
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: Colours (RGB) of the rectangle classes of the tiny datasets.
COLOURS = {'red': (220, 30, 30), 'green': (30, 200, 30), 'blue': (30, 30, 220)}


def edited_copy(task: str, path: Path, classes: tuple) -> Path:
    """The template of ``task`` copied to ``path`` with only its ``classes`` line edited, as a
    user would (its ``_base_`` made absolute, since the copy lives elsewhere)."""
    text = (REPO_ROOT / TEMPLATES[task][0]).read_text()
    text, bases = re.subn(r"^_base_ = \['\.\./demo/",
                          f"_base_ = ['{REPO_ROOT}/configs/{task}/demo/", text, flags=re.M)
    text, lines = re.subn(r'^classes = \(.*\)$', f'classes = {classes!r}', text, flags=re.M)
    assert bases == 1 and lines == 1
    path.write_text(text)
    return path


def dataset_cfgs(cfg) -> list:
    return [cfg[loader].dataset for loader in LOADERS]


def num_classes_fields(task: str, cfg) -> list:
    """Every setting of ``cfg`` that must follow the number of classes."""
    if task == 'det':
        return [cfg.model.bbox_head.num_classes]
    if task == 'cls':
        return [cfg.model.head.num_classes, cfg.data_preprocessor.num_classes]
    return [cfg.model.decode_head.num_classes, cfg.model.auxiliary_head.num_classes]


@pytest.mark.parametrize('task', sorted(TEMPLATES))
def test_the_classes_line_sets_every_number_of_classes(task, tmp_path):
    classes = tuple(f'class{i}' for i in range(7))
    cfg = Config.fromfile(str(edited_copy(task, tmp_path / 'mine.py', classes)))
    assert num_classes_fields(task, cfg) == [7] * len(num_classes_fields(task, cfg))
    for dataset in dataset_cfgs(cfg):
        assert tuple(dataset.metainfo.classes) == classes
    if task == 'cls':   # top-5 from 5 classes on
        assert tuple(cfg.val_evaluator.topk) == (1, 5)
    if task == 'seg':   # none: mmseg 1.2.2 cannot weight classes when a pixel is ignored
        assert cfg.model.decode_head.loss_decode.class_weight is None
        assert cfg.model.auxiliary_head.loss_decode.class_weight is None


@pytest.mark.parametrize('task', sorted(TEMPLATES))
def test_template_keeps_the_demo_recipe(task):
    """Only the data differ: model (but its number of classes, and for segmentation the class
    weights and the label padding), schedule, optimiser, hooks, batch sizes and training
    augmentation are the demo's."""
    template, demo = (Config.fromfile(str(REPO_ROOT / p)) for p in TEMPLATES[task])
    model = template.model.to_dict()
    if task == 'det':
        model['bbox_head']['num_classes'] = demo.model.bbox_head.num_classes
    elif task == 'cls':
        model['head']['num_classes'] = demo.model.head.num_classes
        assert template.data_preprocessor.num_classes == len(template.classes)
    else:
        assert model['data_preprocessor']['seg_pad_val'] == 255   # padding ignored
        model['data_preprocessor']['seg_pad_val'] = demo.model.data_preprocessor.seg_pad_val
        for head in ('decode_head', 'auxiliary_head'):
            model[head]['num_classes'] = demo.model[head].num_classes
            model[head]['loss_decode']['class_weight'] = \
                demo.model[head].loss_decode.class_weight
    assert model == demo.model.to_dict()
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler', 'default_hooks', 'randomness'):
        assert template.get(key) == demo.get(key), key
    for loader in LOADERS:
        assert template[loader].batch_size == demo[loader].batch_size
    assert template.train_dataloader.dataset.pipeline == demo.train_dataloader.dataset.pipeline
    for dataset in dataset_cfgs(template):
        assert dataset.data_root == template.data_root
        assert tuple(dataset.metainfo.classes) == template.classes
        assert 'generator' not in dataset
    if task == 'det':
        assert template.val_evaluator.ann_file.startswith(template.data_root)


def paper_copy(task: str, path: Path, classes: tuple) -> Path:
    """:func:`edited_copy` switched to the paper recipe as the template's comments say: the
    commented ``_base_`` line, and for classification the recipe's test pipeline, for
    segmentation ``reduce_zero_label = True``."""
    text = edited_copy(task, path, classes).read_text()
    paper_base, = re.findall(r"^#   (_base_ = \['\.\./.*\])$", text, flags=re.M)
    paper_base = paper_base.replace("'../", f"'{REPO_ROOT}/configs/{task}/")
    text, bases = re.subn(r'^_base_ = .*$', paper_base, text, flags=re.M)
    edits = 1
    if task == 'cls':
        text, edits = re.subn(r'^test_pipeline = \[\n(?:    .*\n)*\]$',
                              'test_pipeline = _base_.test_pipeline', text, flags=re.M)
    elif task == 'seg':
        text, edits = re.subn(r'^reduce_zero_label = False$', 'reduce_zero_label = True', text,
                              flags=re.M)
    assert bases == 1 and edits == 1
    path.write_text(text)
    return path


def unscoped(value):
    """``value`` without the ``_scope_`` keys mmengine adds to what a config takes from an
    ``mmdet::`` / ``mmseg::`` base (the scope is the config's own)."""
    if isinstance(value, dict):
        return {k: unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [unscoped(v) for v in value]
    return value


PAPER_RECIPES = {'det': 'configs/det/retinanet_emov2_1m.py',
                 'cls': 'configs/cls/emov2_1m_in1k_224.py',
                 'seg': 'configs/seg/deeplabv3_emov2_1m_ade20k_512.py'}


@pytest.mark.parametrize('task', sorted(TEMPLATES))
def test_switch_to_the_paper_recipe(task, tmp_path):
    """The commented ``_base_`` line (with the one edit the comments name) gives the paper's
    recipe on the template's data, its model built with the template's classes."""
    classes = tuple(f'class{i}' for i in range(7))
    cfg = Config.fromfile(str(paper_copy(task, tmp_path / 'mine.py', classes)))
    paper = Config.fromfile(str(REPO_ROOT / PAPER_RECIPES[task]))
    assert num_classes_fields(task, cfg) == [7] * len(num_classes_fields(task, cfg))
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler'):
        assert unscoped(cfg.get(key)) == unscoped(paper.get(key)), key
    assert unscoped(cfg.model.backbone) == unscoped(paper.model.backbone)
    for loader in ('train_dataloader', 'val_dataloader'):
        assert cfg[loader].batch_size == paper[loader].batch_size
        assert unscoped(cfg[loader].dataset.pipeline) == unscoped(paper[loader].dataset.pipeline)
    for dataset in dataset_cfgs(cfg):
        assert tuple(dataset.metainfo.classes) == classes and dataset.data_root == cfg.data_root
        if task == 'seg':   # LoadAnnotations asserts that the dataset agrees with it
            (load, ) = [t for t in dataset.pipeline if t.type == 'LoadAnnotations']
            assert load.reduce_zero_label == dataset.reduce_zero_label
    scope = cfg.default_scope
    init_default_scope(scope)
    model = importlib.import_module(f'{scope}.registry').MODELS.build(cfg.model)
    head = {'det': 'bbox_head', 'cls': 'head', 'seg': 'decode_head'}[task]
    assert getattr(model, head).num_classes == 7


# ----------------------------------------------------------------- tiny datasets
def rectangles(rng, size: int, count: int) -> list:
    """``count`` (x0, y0, x1, y1) boxes, 20-40% of ``size`` wide, inside the image."""
    boxes = []
    for _ in range(count):
        w, h = rng.integers(size // 5, size * 2 // 5, size=2)
        x0, y0 = rng.integers(0, size - w), rng.integers(0, size - h)
        boxes.append((int(x0), int(y0), int(x0 + w), int(y0 + h)))
    return boxes


def background(rng, size: int) -> np.ndarray:
    return rng.integers(90, 150, size=(size, size, 3), dtype=np.uint8)


def write_coco(root: Path, classes: tuple, num_train=4, num_val=2, size=96) -> None:
    """COCO-format detection: annotations/instances_{train,val}.json, {train,val}/*.jpg."""
    rng = np.random.default_rng(0)
    (root / 'annotations').mkdir(parents=True)
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(classes)]
    for split, count in (('train', num_train), ('val', num_val)):
        (root / split).mkdir()
        images, annotations = [], []
        for index in range(count):
            img = background(rng, size)
            for box_index, (x0, y0, x1, y1) in enumerate(rectangles(rng, size, 2)):
                label = (index + box_index) % len(classes)
                img[y0:y1, x0:x1] = COLOURS[classes[label]]
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=index + 1, category_id=label + 1,
                    bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0), iscrowd=0))
            name = f'{index:04d}.jpg'
            Image.fromarray(img).save(root / split / name, quality=95)
            images.append(dict(id=index + 1, file_name=name, width=size, height=size))
        (root / 'annotations' / f'instances_{split}.json').write_text(
            json.dumps(dict(images=images, annotations=annotations, categories=categories)))


def write_class_folders(root: Path, classes: tuple, num_train=3, num_val=1, size=72) -> None:
    """ImageNet-style folders: {train,val}/<class>/*.jpg."""
    rng = np.random.default_rng(1)
    for split, count in (('train', num_train), ('val', num_val)):
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(count):
                img = background(rng, size)
                (x0, y0, x1, y1), = rectangles(rng, size, 1)
                img[y0:y1, x0:x1] = COLOURS[name]
                Image.fromarray(img).save(folder / f'{index}.jpg', quality=95)


def write_seg_folders(root: Path, classes: tuple, num_train=4, num_val=2, size=96) -> None:
    """mmseg-style folders: img_dir/{train,val}/*.jpg and ann_dir/{train,val}/*.png label maps
    (0 = background, k = classes[k], a 255 (ignored) border)."""
    rng = np.random.default_rng(2)
    for split, count in (('train', num_train), ('val', num_val)):
        (root / 'img_dir' / split).mkdir(parents=True)
        (root / 'ann_dir' / split).mkdir(parents=True)
        for index in range(count):
            img = background(rng, size)
            label_map = np.zeros((size, size), np.uint8)
            for box_index, (x0, y0, x1, y1) in enumerate(rectangles(rng, size, 2)):
                label = 1 + (index + box_index) % (len(classes) - 1)
                img[y0:y1, x0:x1] = COLOURS[classes[label]]
                label_map[y0:y1, x0:x1] = label
            label_map[:2] = 255
            Image.fromarray(img).save(root / 'img_dir' / split / f'{index:04d}.jpg', quality=95)
            Image.fromarray(label_map).save(root / 'ann_dir' / split / f'{index:04d}.png')


# ----------------------------------------------------------------- tool runs
def data_root_options(task: str, root: Path) -> list:
    """--cfg-options that point the template at ``root`` (as docs/custom_dataset.md gives)."""
    options = [f'{loader}.dataset.data_root={root}' for loader in LOADERS]
    if task == 'det':
        ann_file = root / 'annotations' / 'instances_val.json'
        options += [f'val_evaluator.ann_file={ann_file}', f'test_evaluator.ann_file={ann_file}']
    return options


def in_process_loaders() -> list:
    return [f'{loader}.{key}' for loader in LOADERS
            for key in ('num_workers=0', 'persistent_workers=False')]


#: Per task: the tiny dataset's classes and writer, the options that make the run short (2
#: iterations, then validation) and the metric validation must report. After 2 iterations
#: from scratch no box scores 0.05, and CocoMetric reports nothing without a box: score_thr 0.
RUNS = {
    'det': (('blue', 'green', 'red'), write_coco,
            ['train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
             'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
             'default_hooks.logger.interval=1', 'model.test_cfg.score_thr=0.0'],
            'coco/bbox_mAP'),
    'cls': (('blue', 'green', 'red'), write_class_folders,
            ['train_dataloader.batch_size=4', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
             'default_hooks.logger.interval=1'],
            'accuracy/top1'),
    'seg': (('background', 'red', 'blue'), write_seg_folders,
            ['train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
             'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
             'default_hooks.logger.interval=1'],
            'mIoU'),
}


def scalars(work_dir: Path) -> list:
    (path, ) = work_dir.glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.e2e
@pytest.mark.parametrize('task', sorted(RUNS))
def test_template_trains_on_its_layout(task, tmp_path):
    classes, write, short, metric = RUNS[task]
    root = tmp_path / 'data'
    write(root, classes)
    config = edited_copy(task, tmp_path / 'mine.py', classes)
    work_dir = tmp_path / 'work'
    result = run_tool('train.py', config, '--work-dir', work_dir, '--cfg-options',
                      *data_root_options(task, root), *in_process_loaders(), *short, check=True)
    records = scalars(work_dir)
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2]
    assert all(np.isfinite(r['loss']) for r in train)
    assert any(metric in r for r in records), records
    assert f'{metric}=' in result.stdout   # tools/train.py's closing summary
    assert (work_dir / ('iter_2.pth' if task == 'seg' else 'epoch_1.pth')).is_file()


@pytest.mark.e2e
def test_missing_data_root_is_a_clear_error_naming_the_key(tmp_path):
    """A template pointed at a folder that does not exist: tools/train.py stops before
    building anything, with the config keys to fix and no traceback."""
    template = TEMPLATES['det'][0]
    missing = str(tmp_path / 'my_coco') + '/'
    result = run_tool('train.py', template, '--cfg-options',
                      *(f'{loader}.dataset.data_root={missing}'
                        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')))
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert f"train_dataloader.dataset.data_root = '{missing}' (CocoDataset): no such " \
           'directory' in result.stderr
