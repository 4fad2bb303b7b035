"""End to end through tools/train.py and tools/test.py (subprocesses): the shapes demo trains
2 iterations and validates on a tiny generated crop set, the KD demo distils from that
checkpoint, and an official-layout checkpoint is evaluated with the ImageNet config."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO_ROOT, official_logits, official_state_dict, run_tool
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from PIL import Image

import emo_mm.cls  # noqa: F401  (registers mmpretrain's transforms and emo_mm's modules)

pytestmark = pytest.mark.e2e   # runs the tools as processes

DEMO = 'configs/cls/demo/emov2_1m_shapes.py'
KD_DEMO = 'configs/cls/demo/emov2_1m_shapes_kd.py'
TINY_SHAPES = dict(num_train=4, num_val=2, img_size=64)


def run_checked(tool: str, *args: str) -> str:
    """Run tools/<tool>.py; return its output, failing with it on a non-zero exit."""
    result = run_tool(f'{tool}.py', *args, check=True)
    return result.stdout + result.stderr


def shapes_options(data_root: Path) -> list:
    """--cfg-options that put the demo's data in ``data_root`` (tiny) and load it in-process."""
    options = ['train_dataloader.drop_last=False']   # a few crops: one partial batch per epoch
    for loader in ('train_dataloader', 'val_dataloader'):
        options += [f'{loader}.dataset.data_root={data_root}', f'{loader}.num_workers=0',
                    f'{loader}.persistent_workers=False']
        options += [f'{loader}.dataset.generator.{k}={v}' for k, v in TINY_SHAPES.items()]
    return options


def scalars(work_dir: Path) -> list:
    (path, ) = work_dir.glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in path.read_text().splitlines()]


def train_two_iterations(config: str, work_dir: Path, data_root: Path, *options: str) -> list:
    """Two epochs of one iteration each (the tiny set fits one batch), then validation."""
    run_checked('train', config, '--work-dir', str(work_dir), '--cfg-options',
                'train_cfg.max_epochs=2', *shapes_options(data_root), *options)
    records = scalars(work_dir)
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2]
    assert all(np.isfinite(r['loss']) for r in train)
    assert any('accuracy/top1' in r for r in records)
    assert (work_dir / 'epoch_2.pth').is_file()
    return train


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('cls_train')
    train = train_two_iterations(DEMO, tmp / 'demo', tmp / 'shapes')
    return tmp, train


def test_demo_checkpoint_tests_to_the_accuracy_it_validated_at(demo_run):
    """tools/test.py on the demo's final checkpoint reproduces the validation that ended its
    training (``demo_run`` checked that it trained): the file holds the validated weights."""
    tmp, _ = demo_run
    logged = [r['accuracy/top1'] for r in scalars(tmp / 'demo') if 'accuracy/top1' in r][-1]
    options = [option.replace('val_dataloader', 'test_dataloader', 1)
               for option in shapes_options(tmp / 'shapes') if option.startswith('val_dataloader')]
    output = run_checked('test', DEMO, str(tmp / 'demo' / 'epoch_2.pth'), '--work-dir',
                         str(tmp / 'test'), '--cfg-options', *options)
    assert f'accuracy/top1: {logged:.4f}' in output


def test_kd_demo_distils_from_the_demo_checkpoint(demo_run):
    tmp, _ = demo_run
    train = train_two_iterations(KD_DEMO, tmp / 'kd', tmp / 'shapes',
                                 f"model.teacher_checkpoint={tmp / 'demo' / 'epoch_2.pth'}")
    assert all(r['loss'] == pytest.approx(r['loss_cls'] + r['loss_kd'], rel=1e-3) for r in train)
    state = torch.load(tmp / 'kd' / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert not any(k.startswith('teacher') for k in state['state_dict'])


def test_tools_test_evaluates_an_official_checkpoint(tmp_path):
    """Labels are the official model's own predictions, so top-1 is 100% only if the file
    (and its EMA copy) was converted and loaded, not left at random init."""
    config = 'configs/cls/emov2_1m_in1k_224.py'
    sd = official_state_dict('1m', num_classes=1000)
    checkpoint = tmp_path / 'EMOv2_1M_224.pth'
    torch.save(sd, checkpoint)
    root = tmp_path / 'imagenet'
    (root / 'val').mkdir(parents=True)
    (root / 'meta').mkdir()
    cfg = Config.fromfile(str(REPO_ROOT / config))
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    preprocessor = MODELS.build(dict(type='ClsDataPreprocessor', **cfg.data_preprocessor))
    rng = np.random.default_rng(0)
    lines = []
    for index in range(2):
        name = f'{index}.png'
        Image.fromarray(rng.integers(0, 255, (240, 300, 3), dtype=np.uint8)).save(root / 'val' / name)
        batch = preprocessor(pseudo_collate([pipeline(dict(img_path=str(root / 'val' / name)))]))
        with torch.no_grad():
            lines.append(f"{name} {official_logits(sd, batch['inputs']).argmax().item()}")
    (root / 'meta' / 'val.txt').write_text('\n'.join(lines) + '\n')
    output = run_checked('test', config, str(checkpoint), '--work-dir', str(tmp_path / 'work'),
                         '--cfg-options', f'test_dataloader.dataset.data_root={root}',
                         'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
                         'test_dataloader.batch_size=2')
    assert 'Start testing on EMA model' in output
    assert 'accuracy/top1: 100.0000' in output
