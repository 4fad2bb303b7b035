"""Two training iterations plus validation for each head family (EMOv2-1M, the ADE20K recipe
with the data swapped for a tiny generated shapes set), through ``tools/train.py`` as a user
runs it; then ``tools/test.py --show-dir`` on one of the checkpoints. The four trainings run
as parallel subprocesses."""
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO_ROOT
from mmengine.config import Config
from PIL import Image
from helpers import newest_log, run_tool, start_tool, tiny_shapes_options

pytestmark = pytest.mark.e2e   # runs the tools as processes

FAMILIES = ('deeplabv3', 'pspnet', 'fpn', 'segformer')
TINY = dict(num_train=4, num_val=2, img_size=64, seed=0)
CROP = (64, 64)
TIMEOUT_S = 240


def tiny_config(family: str, data_root: Path) -> Config:
    """The 1M ADE20K recipe of ``family`` on tiny shapes data: 2 iterations, batch 2."""
    cfg = Config.fromfile(str(REPO_ROOT / f'configs/seg/{family}_emov2_1m_ade20k_512.py'))
    data = Config.fromfile(str(REPO_ROOT / 'configs/_base_/datasets/shapes_segmentation.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                'test_evaluator'):
        cfg[key] = data[key]
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[key]
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.update(data_root=str(data_root), generator=TINY)
        for step in loader.dataset.pipeline:
            for arg in ('scale', 'crop_size'):
                if arg in step:
                    step[arg] = CROP
    cfg.model.data_preprocessor.size = CROP
    cfg.model.backbone.init_cfg = None
    for head in ('decode_head', 'auxiliary_head'):
        if head in cfg.model:
            cfg.model[head].num_classes = 5
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    return cfg


class Runs:
    """Parallel ``tools/train.py`` subprocesses, one per family; ``result`` waits for one."""

    def __init__(self, root: Path) -> None:
        data_root = root / 'shapes'
        from emo_mm.datasets import ensure_shapes
        ensure_shapes(data_root, **TINY)           # once, before the parallel runs
        self.procs, self.results = {}, {}
        for family in FAMILIES:
            config = root / f'{family}_tiny.py'
            tiny_config(family, data_root).dump(str(config))
            work_dir = root / family
            proc = start_tool('train.py', config, '--work-dir', work_dir)
            self.procs[family] = (config, work_dir, proc)

    def result(self, family: str) -> dict:
        """``config``, ``work_dir``, ``returncode`` and ``output`` of one training run."""
        if family not in self.results:
            config, work_dir, proc = self.procs[family]
            output, _ = proc.communicate(timeout=TIMEOUT_S)
            self.results[family] = dict(config=config, work_dir=work_dir,
                                        returncode=proc.returncode, output=output)
        return self.results[family]

    def close(self) -> None:
        for _, _, proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope='module')
def runs(tmp_path_factory: pytest.TempPathFactory):
    runs = Runs(tmp_path_factory.mktemp('seg_train'))
    yield runs
    runs.close()


def scalars(work_dir: Path) -> list:
    """Records of mmengine's ``vis_data/scalars.json`` of the (only) run in ``work_dir``."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    return [json.loads(line) for line in files[-1].read_text().splitlines()]


def test_test_tool_writes_colourised_predictions(runs: Runs, tmp_path: Path):
    # First, so that it runs while the other three trainings are still going.
    run = runs.result('deeplabv3')
    assert run['returncode'] == 0, run['output'][-3000:]
    work_dir = tmp_path / 'test'
    run_tool('test.py', run['config'], run['work_dir'] / 'iter_2.pth', '--work-dir', work_dir,
             '--show-dir', 'painted', timeout=TIMEOUT_S, check=True)
    painted = sorted(work_dir.glob('*/painted/*.png'))
    assert len(painted) == TINY['num_val']
    image = np.asarray(Image.open(painted[0]).convert('RGB'))
    # SegLocalVisualizer draws ground truth and prediction side by side.
    assert image.shape[1] == 2 * CROP[1]


@pytest.mark.parametrize('family', FAMILIES)
def test_two_iterations_train_and_validate(runs: Runs, family: str):
    run = runs.result(family)
    assert run['returncode'] == 0, run['output'][-3000:]
    records = scalars(run['work_dir'])
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) == 2 and all(np.isfinite(losses))
    val = [r for r in records if 'mIoU' in r]
    assert len(val) == 1 and 0.0 <= val[0]['mIoU'] <= 100.0
    assert (run['work_dir'] / 'iter_2.pth').is_file()


def test_shapes_dataset_keeps_background_as_class_zero(tmp_path: Path):
    from mmseg.datasets.transforms import LoadAnnotations

    from emo_mm.datasets import SHAPES_SEG_CLASSES
    from emo_mm.seg import ShapesSegDataset
    dataset = ShapesSegDataset(
        data_root=str(tmp_path / 'shapes'), generator=dict(TINY, num_train=2, num_val=1),
        data_prefix=dict(img_path='val/images', seg_map_path='val/semantic'), pipeline=[])
    assert len(dataset) == 1
    assert dataset.metainfo['classes'] == SHAPES_SEG_CLASSES
    assert len(dataset.metainfo['palette']) == len(SHAPES_SEG_CLASSES)
    info = dataset[0]
    assert info['reduce_zero_label'] is False
    labels = LoadAnnotations()(info)['gt_seg_map']
    expected = np.asarray(Image.open(tmp_path / 'shapes/val/semantic/000000.png'))
    np.testing.assert_array_equal(labels, expected)
    assert labels.max() < len(SHAPES_SEG_CLASSES) and (labels == 0).any()


def test_demo_config_trains_and_validates_as_shipped(tmp_path: Path):
    """The shapes demo itself (stride-16 heads, stage 4 skipped), 2 iterations on tiny data."""
    work_dir = tmp_path / 'work'
    result = run_tool(
        'train.py', 'configs/seg/demo/deeplabv3_emov2_1m_shapes.py', '--work-dir', work_dir,
        '--cfg-options', *tiny_shapes_options(tmp_path / 'shapes'),
        'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
        'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1')
    assert result.returncode == 0, result.stderr[-3000:]
    log = newest_log(work_dir)
    assert 'Iter(train) [2/2]' in log and 'mIoU' in log
    assert (work_dir / 'iter_2.pth').is_file()
