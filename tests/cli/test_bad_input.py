"""Bad input through the tools as a user calls them: each case ends with a non-zero exit
and one line that names the problem (no traceback), and nothing already written is lost.
"""
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from emo_mm.cli import TASKS
from helpers import PROBE_ENV, cls_demo_config, final_weights, run_tool

pytestmark = pytest.mark.e2e   # runs the tools as processes

ONE_EPOCH = "train_cfg = dict(max_epochs=1)\n"


def assert_one_line_error(result, code: int, *fragments: str) -> str:
    """Exit ``code``, no traceback, exactly one ``error:`` line holding ``fragments``."""
    assert result.returncode == code, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if ': error' in line]
    assert len(lines) == 1, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope='module')
def config(tmp_path_factory, small_shapes_root) -> Path:
    return cls_demo_config(tmp_path_factory.mktemp('bad') / 'cls.py', small_shapes_root,
                           ONE_EPOCH)


def save_model_checkpoint(config: Path, path: Path, **backbone) -> Path:
    """A checkpoint of the config's model (at its initial weights), backbone changed."""
    cfg = Config.fromfile(config)
    cfg.model.backbone.update(backbone)
    model = TASKS['mmpretrain'].build_model(cfg)
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    return path


# ----------------------------------------------------------------- checkpoints
def test_test_tool_refuses_the_checkpoint_of_another_model(config, tmp_path):
    other = tmp_path / 'other.pth'
    torch.save({'meta': {}, 'state_dict': torch.nn.Linear(3, 2).state_dict()}, other)
    result = run_tool('test.py', config, other, '--work-dir', tmp_path / 'w', env=PROBE_ENV)
    assert_one_line_error(result, 2, 'does not match', 'missing keys: backbone.',
                          'unexpected keys: weight, bias')


def test_test_tool_refuses_a_checkpoint_of_another_size(config, tmp_path):
    other = save_model_checkpoint(config, tmp_path / 'emov2_2m.pth', arch='2m')
    result = run_tool('test.py', config, other, '--work-dir', tmp_path / 'w',
                      '--cfg-options', 'model.head.in_channels=200', env=PROBE_ENV)
    assert_one_line_error(result, 2, 'wrong shapes', "fits arch '2m'")


def test_a_truncated_checkpoint_is_one_line(config, tmp_path):
    good = save_model_checkpoint(config, tmp_path / 'good.pth')
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    result = run_tool('test.py', config, truncated, '--work-dir', tmp_path / 'w', env=PROBE_ENV)
    assert_one_line_error(result, 2, f"cannot read checkpoint '{truncated}'", 'corrupt')


class _RunsCode:
    """Unpickling this would run a shell command (a checkpoint from a stranger)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f'touch {self.marker}', )


@pytest.mark.parametrize('tool', ['test.py', 'infer.py', 'deployment/export_aot.py'])
def test_a_checkpoint_whose_pickle_runs_code_is_refused(config, tmp_path, tool):
    marker = tmp_path / 'code_ran'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsCode(marker)}, evil)
    image = tmp_path / 'image.png'
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    extra = {'test.py': ['--work-dir', tmp_path / 'w'], 'infer.py': [image],
             'deployment/export_aot.py': ['--shape', '64']}[tool]
    result = run_tool(tool, config, evil, *extra, env=PROBE_ENV)
    assert_one_line_error(result, 2, 'safe to unpickle')
    assert not marker.exists()


# ----------------------------------------------------------------- config values
@pytest.mark.parametrize('option, fragment', [
    ('model.backbone.arch=7m', "unknown EMOv2 arch '7m'"),
    ('model.backbone.window_size=[7,7]', 'window_size must be an int or 4 values'),
    ('+model.backbone.out_indices=[9]', 'out_indices entries must be in [-5, 4]'),
    ('+model.backbone.frozen_stages=7', 'frozen_stages must be in [-1, 4]'),
])
def test_a_bad_backbone_setting_is_one_line(config, tmp_path, option, fragment):
    result = run_tool('train.py', config, '--work-dir', tmp_path / 'w', '--cfg-options', option,
                      env=PROBE_ENV)
    assert_one_line_error(result, 2, 'model.backbone (EMOv2)', fragment, '--cfg-options')


def test_a_bad_backbone_setting_is_one_line_in_the_other_tools(config, tmp_path):
    checkpoint = save_model_checkpoint(config, tmp_path / 'model.pth')
    for tool, args in (('test.py', [checkpoint, '--work-dir', tmp_path / 'w']),
                       ('deployment/export_aot.py', [checkpoint, '--shape', '64'])):
        result = run_tool(tool, config, *args, '--cfg-options', 'model.backbone.arch=7m',
                          env=PROBE_ENV)
        assert_one_line_error(result, 2, "unknown EMOv2 arch '7m'")


@pytest.mark.parametrize('launcher, fragment', [
    ('pytorch', 'RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT'),
    ('slurm', 'SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST'),
])
def test_a_launcher_without_its_environment_is_one_line(config, tmp_path, launcher, fragment):
    """``tools/train.py --launcher ...`` run by hand, outside torchrun or srun."""
    result = run_tool('train.py', config, '--work-dir', tmp_path / 'w', '--launcher', launcher,
                      env=PROBE_ENV)
    assert_one_line_error(result, 2, f'--launcher {launcher} needs', fragment,
                          'leave --launcher out')


# ----------------------------------------------------------------- training
def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(config, tmp_path):
    work_dir = tmp_path / 'w'
    result = run_tool('train.py', config, '--work-dir', work_dir, '--cfg-options',
                      'optim_wrapper.optimizer.lr=1e9', 'optim_wrapper.clip_grad=None',
                      'param_scheduler=None', '+default_hooks.checkpoint.by_epoch=False',
                      'default_hooks.checkpoint.interval=1', env=PROBE_ENV)
    line = assert_one_line_error(result, 1, 'the loss is not finite at iteration 2',
                                 'loss=nan', f'the last good checkpoint is {work_dir}/iter_1.pth',
                                 'Lower the learning rate')
    assert 'training stopped before saving these weights' in line
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_1.pth']
    assert all(torch.isfinite(v).all() for v in final_weights(work_dir / 'iter_1.pth').values()
               if v.is_floating_point())


@pytest.fixture
def shapes_with_a_truncated_crop(small_shapes_root, tmp_path) -> tuple:
    """A copy of the small shapes set whose first training crop is cut in half."""
    root = Path(shutil.copytree(small_shapes_root, tmp_path / 'shapes'))
    crop = sorted((root / 'train' / 'crops').rglob('*.png'))[0]
    crop.write_bytes(crop.read_bytes()[:crop.stat().st_size // 2])
    return root, crop


def test_a_truncated_image_names_the_file(shapes_with_a_truncated_crop, tmp_path):
    root, crop = shapes_with_a_truncated_crop
    config = cls_demo_config(tmp_path / 'cls.py', root, ONE_EPOCH)
    result = run_tool('train.py', config, '--work-dir', tmp_path / 'w', env=PROBE_ENV)
    assert_one_line_error(result, 2, 'cannot load train sample', f'img_path {crop}',
                          'truncated or corrupt', 'Replace the file')


def test_a_truncated_image_in_testing_names_the_file(config, small_shapes_root, tmp_path):
    root = Path(shutil.copytree(small_shapes_root, tmp_path / 'shapes'))
    crop = sorted((root / 'val' / 'crops').rglob('*.png'))[0]
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(crop)
    crop.write_bytes(crop.read_bytes()[:40])
    config = cls_demo_config(tmp_path / 'cls.py', root, ONE_EPOCH)
    checkpoint = save_model_checkpoint(config, tmp_path / 'model.pth')
    result = run_tool('test.py', config, checkpoint, '--work-dir', tmp_path / 'w', env=PROBE_ENV)
    assert_one_line_error(result, 2, 'cannot load test sample', str(crop))
