"""The backbone-comparison configs (configs/*/demo/compare/): each one builds and trains two
iterations plus a validation on a tiny shapes set, in process; the peers' widths match what
their backbones put out."""
import glob
import math
from pathlib import Path

import pytest
from helpers import REPO_ROOT
from mmengine.config import Config

from emo_mm.analysis.compare import TASK_METRICS
from emo_mm.cli.common import build_runner, load_config

CONFIGS = sorted(glob.glob(str(REPO_ROOT / 'configs' / '*' / 'demo' / 'compare' / '*.py')))
TINY = dict(num_train=4, num_val=2, img_size=96, seed=0)
#: The backbones docs/comparison.md promises, in every task.
BACKBONES = ('mobilenetv2', 'mobilenetv3_small', 'mobilenetv3_large', 'efficientformer_l1',
             'mobilevit_xs', 'mobilevit_s', 'edgenext_xxs', 'edgenext_xs', 'mobileone_s0',
             'emov2_2m', 'emov2_5m', 'emov1_1m', 'emov1_2m', 'emov1_5m')


def test_every_task_compares_every_backbone():
    for task, pattern in (('det', 'retinanet_{}_shapes.py'), ('seg', 'deeplabv3_{}_shapes.py'),
                          ('cls', '{}_shapes.py')):
        folder = REPO_ROOT / 'configs' / task / 'demo' / 'compare'
        assert sorted(p.name for p in folder.glob('*.py')) == sorted(
            pattern.format(name) for name in BACKBONES)


@pytest.fixture(scope='module')
def tiny_root(tmp_path_factory) -> Path:
    from emo_mm.datasets import ensure_shapes
    return ensure_shapes(tmp_path_factory.mktemp('compare_shapes'), **TINY)


def tiny(cfg: Config, data_root: Path) -> None:
    """Point ``cfg`` at the tiny set: batch 2, no workers, two iterations then a validation."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(batch_size=2, num_workers=0, persistent_workers=False)
        cfg[key].dataset.update(data_root=str(data_root), generator=TINY)
    for key in ('val_evaluator', 'test_evaluator'):
        if 'ann_file' in cfg[key]:
            cfg[key].ann_file = str(data_root / 'annotations' / 'instances_val.json')
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=2)
    cfg.param_scheduler = []
    cfg.custom_hooks = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(interval=-1, save_last=False)


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: '/'.join(Path(p).parts[-4:][::3]))
def test_comparison_config_trains_two_iterations(path, tiny_root, tmp_path):
    cfg, spec = load_config(path, None, 'none', str(tmp_path))
    tiny(cfg, tiny_root)
    runner = build_runner(cfg, spec)
    runner.train()
    assert runner.iter == 2
    logged = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(logged) and logged > 0
    assert runner.message_hub.get_scalar(f'val/{TASK_METRICS[spec.scope]}') is not None
