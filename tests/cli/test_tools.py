"""tools/train.py, tools/test.py and the launcher scripts, end to end on a tiny mmpretrain
classifier (EMOv2-1m, 8 generated 32x32 images, 2 iterations), plus the config checks
behind them (emo_mm.cli). The tools run as subprocesses from the repo root."""
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from emo_mm.cli.common import (TASKS, ToolError, check_cfg_options, missing_data_roots,
                               option_key_problem, resolve_task)
from emo_mm.cli.test import flip_tta_pipeline
from emo_mm.cli.train import build_train_parser
from emo_mm.engine import cpu_has_bf16
from helpers import REPO_ROOT, newest_log, run_script, run_tool

CONFIG_TEMPLATE = """\
default_scope = 'mmpretrain'
{custom_imports}
data_root = {data_root!r}
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=2, mean=[127.5] * 3, std=[127.5] * 3, to_rgb=True),
    backbone=dict(type='EMOv2', arch='1m', final_norm=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=2, in_channels=180,
              loss=dict(type='CrossEntropyLoss'), topk=(1, )))
dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root=data_root,
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')]))
train_dataloader = val_dataloader = test_dataloader = dataloader
val_evaluator = test_evaluator = dict(type='Accuracy', topk=(1, ))
train_cfg = dict(by_epoch=False, max_iters=2, val_interval=2)
val_cfg = test_cfg = dict()
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01))
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'),
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0))
visualizer = dict(type='UniversalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
"""


def write_config(path: Path, data_root: Path, custom_imports: bool = True) -> Path:
    """A tiny classification config at ``path`` (optionally without ``custom_imports``)."""
    imports = "custom_imports = dict(imports=['emo_mm'], allow_failed_imports=False)" \
        if custom_imports else ''
    path.write_text(CONFIG_TEMPLATE.format(custom_imports=imports, data_root=str(data_root)))
    return path


def assert_clean_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 2 with a one-line-ish message naming ``fragments``, no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture(scope='module')
def data_root(tmp_path_factory) -> Path:
    """8 random 32x32 PNGs in two class folders (mmpretrain CustomDataset layout)."""
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    for cls_name in ('cat', 'dog'):
        (root / cls_name).mkdir()
        for index in range(4):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / cls_name / f'{cls_name}{index}.png')
    return root


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data_root) -> tuple:
    """(config, work_dir, result) of 2 training iterations; the config has no custom_imports,
    so the tool itself must import emo_mm."""
    tmp = tmp_path_factory.mktemp('train')
    config = write_config(tmp / 'tiny_cls.py', data_root, custom_imports=False)
    work_dir = tmp / 'work_dir'
    return config, work_dir, run_tool('train.py', config, '--work-dir', work_dir)


# ----------------------------------------------------------------- happy paths
@pytest.mark.e2e
def test_train_writes_config_log_checkpoint_and_scalars(trained):
    config, work_dir, result = trained
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work_dir / 'tiny_cls.py').is_file()
    assert (work_dir / 'iter_2.pth').is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('iter_2.pth')
    run_dir = next(p for p in work_dir.iterdir() if p.is_dir())
    assert (run_dir / 'vis_data' / 'scalars.json').is_file()
    log = newest_log(work_dir)
    assert 'Iter(train) [2/2]' in log and 'accuracy/top1' in log  # trained, then validated


@pytest.mark.e2e
def test_resume_continues_from_latest_checkpoint(trained):
    config, work_dir, _ = trained
    result = run_tool('train.py', config, '--work-dir', work_dir, '--resume',
                      '--cfg-options', 'train_cfg.max_iters=4')
    assert result.returncode == 0, result.stderr[-3000:]
    log = newest_log(work_dir)
    assert 'Auto resumed from the latest checkpoint' in log
    assert 'resumed epoch: 0, iter: 2' in log and 'Iter(train) [4/4]' in log
    assert (work_dir / 'iter_4.pth').is_file()


@pytest.mark.e2e
def test_test_dumps_predictions_and_paints_images(trained, tmp_path):
    config, work_dir, _ = trained
    out = tmp_path / 'predictions.pkl'
    result = run_tool('test.py', config, work_dir / 'iter_2.pth', '--work-dir', tmp_path / 'wd',
                      '--out', out, '--show-dir', 'painted')
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out, 'rb') as file:
        predictions = pickle.load(file)
    assert len(predictions) == 8 and {'pred_label', 'pred_score'} <= set(predictions[0])
    painted = list((tmp_path / 'wd').glob('*/painted/*.png'))
    assert len(painted) == 8


def dumped_scores(path: Path) -> np.ndarray:
    with open(path, 'rb') as file:
        return np.stack([np.asarray(p['pred_score']) for p in pickle.load(file)])


@pytest.mark.e2e
def test_test_in_bf16_and_int8_scores_like_float32(trained, tmp_path):
    """--precision bf16 / int8 test the backbone's deploy form in low precision: the same
    images, scores close to the float32 run's (int8 calibrated on 4 training images)."""
    config, work_dir, _ = trained
    scores, logs = {}, {}
    for precision in ('fp32', 'bf16', 'int8'):
        out = tmp_path / f'{precision}.pkl'
        result = run_tool('test.py', config, work_dir / 'iter_2.pth', '--work-dir',
                          tmp_path / precision, '--out', out, '--precision', precision,
                          '--calib-images', 4, check=True)
        scores[precision], logs[precision] = dumped_scores(out), result.stdout + result.stderr
    assert 'backbone in bf16' in logs['bf16'] and 'calibrating on 4 training images' in logs['int8']
    assert 'backbone in' not in logs['fp32']
    for precision, tolerance in (('bf16', 0.03), ('int8', 0.08)):
        difference = np.abs(scores[precision] - scores['fp32']).max()
        assert 0 < difference <= tolerance, (precision, difference)


@pytest.mark.e2e
def test_validation_and_test_run_the_deploy_form_unless_switched_off(trained, tmp_path):
    """By default validation (in training) and tools/test.py run the backbone's deploy form:
    the scores equal those of the backbone as trained (--no-deploy-form) to float32 rounding."""
    config, work_dir, train_result = trained
    assert 'validation: deploy form of the backbone' in newest_log(work_dir)
    scores, logs = {}, {}
    for name, extra in (('deploy', []), ('trained', ['--no-deploy-form'])):
        out = tmp_path / f'{name}.pkl'
        result = run_tool('test.py', config, work_dir / 'iter_2.pth', '--work-dir',
                          tmp_path / name, '--out', out, *extra, check=True)
        scores[name], logs[name] = dumped_scores(out), result.stdout + result.stderr
    assert 'testing: deploy form of the backbone' in logs['deploy']
    assert 'deploy form of the backbone' not in logs['trained']
    assert np.abs(scores['deploy'] - scores['trained']).max() <= 1e-5


# ----------------------------------------------------------------- clear errors
@pytest.mark.e2e
def test_missing_config_is_a_clear_error(tmp_path):
    missing = tmp_path / 'nope.py'
    assert_clean_error(run_tool('train.py', missing), 'config file not found', str(missing))


@pytest.mark.e2e
def test_unknown_cfg_option_key_is_rejected(tmp_path, data_root):
    config = write_config(tmp_path / 'cfg.py', data_root)
    result = run_tool('train.py', config, '--work-dir', tmp_path / 'wd', '--cfg-options',
                      'model.backbone.archh=2m', 'train_cfg.max_iters=3')
    assert_clean_error(result, 'model.backbone.archh')
    assert 'train_cfg.max_iters' not in result.stderr  # an existing key is fine


@pytest.mark.e2e
def test_missing_data_root_names_the_path(tmp_path):
    data_root = tmp_path / 'not_there'
    config = write_config(tmp_path / 'cfg.py', data_root)
    result = run_tool('train.py', config, '--work-dir', tmp_path / 'wd')
    assert_clean_error(result, 'train_dataloader.dataset.data_root', str(data_root))


@pytest.mark.e2e
@pytest.mark.skipif(torch.cuda.is_available(),
                    reason='checks the error --amp gives on a CPU-only machine; with a GPU, --amp is valid')
def test_amp_on_cpu_trains_in_bf16_or_says_why(tmp_path, data_root):
    """--amp on a CPU: bfloat16 autocast where the CPU has the instructions, float32 weights
    and optimizer state in the checkpoint, which a float32 tools/test.py loads; elsewhere one
    line saying why."""
    config = write_config(tmp_path / 'cfg.py', data_root)
    work_dir = tmp_path / 'wd'
    result = run_tool('train.py', config, '--work-dir', work_dir, '--amp',
                      '--cfg-options', '+optim_wrapper.optimizer.momentum=0.9')
    if not cpu_has_bf16():
        assert_clean_error(result, '--amp on a CPU trains in bfloat16', 'avx512_bf16')
        return
    assert result.returncode == 0, result.stderr[-3000:]
    assert "type='CpuBf16OptimWrapper'" in (work_dir / 'cfg.py').read_text()
    checkpoint = torch.load(work_dir / 'iter_2.pth', map_location='cpu', weights_only=False)
    assert {v.dtype for v in checkpoint['state_dict'].values() if v.is_floating_point()} == \
        {torch.float32}
    momentum = [s['momentum_buffer'] for s in checkpoint['optimizer']['state'].values()]
    assert momentum and {t.dtype for t in momentum} == {torch.float32}
    run_tool('test.py', config, work_dir / 'iter_2.pth', '--work-dir', tmp_path / 'test',
             check=True)


@pytest.mark.e2e
def test_int8_without_calibration_images_is_a_clear_error(trained, tmp_path):
    config, work_dir, _ = trained
    result = run_tool('test.py', config, work_dir / 'iter_2.pth', '--work-dir', tmp_path / 'wd',
                      '--precision', 'int8', '--calib-images', 0)
    assert_clean_error(result, '--calib-images', '>= 1')


# ----------------------------------------------------------------- checks, in process
def test_option_key_problem_rules():
    cfg = dict(model=dict(backbone=dict(arch='1m'), neck=None),
               pipeline=[dict(type='A'), dict(type='B', scale=1)])
    assert option_key_problem(cfg, 'model.backbone.arch') is None
    assert option_key_problem(cfg, 'pipeline.1.scale') is None
    assert option_key_problem(cfg, 'randomness.seed') is None  # a runner field may be added
    assert 'model.backbone.archh' in option_key_problem(cfg, 'model.backbone.archh')
    assert 'not an index' in option_key_problem(cfg, 'pipeline.2.scale')
    assert 'not a dict' in option_key_problem(cfg, 'model.neck.type')
    assert check_cfg_options(cfg, {'model.head': {'type': 'Head'}})  # dicts merge freely
    assert check_cfg_options(cfg, {'+model.backbone.new': 1}) == {'model.backbone.new': 1}
    with pytest.raises(ToolError, match='model.backbone.archh'):
        check_cfg_options(cfg, {'model.backbone.archh': '2m'})


def test_missing_data_roots_looks_through_wrappers_and_skips_shapes(tmp_path):
    import emo_mm.det  # noqa: F401 - defines ShapesDetDataset, as the config's custom_imports do
    gone = str(tmp_path / 'gone')
    cfg = dict(train_dataloader=dict(dataset=dict(
        type='ConcatDataset', datasets=[
            dict(type='RepeatDataset', dataset=dict(type='CocoDataset', data_root=gone)),
            dict(type='mmdet.ShapesDetDataset', data_root=gone),
            dict(type='CocoDataset', data_root=str(tmp_path))])))
    problems = missing_data_roots(cfg, ['train_dataloader'])
    assert len(problems) == 1
    assert 'train_dataloader.dataset.datasets.0.dataset.data_root' in problems[0]
    assert gone in problems[0]


def test_resolve_task_names_the_allowed_scopes():
    assert resolve_task('mmseg', 'c.py') is TASKS['mmseg']
    with pytest.raises(ToolError, match="'mmdet'.*'mmseg'.*'mmpretrain'"):
        resolve_task('mmocr', 'c.py')
    with pytest.raises(ToolError, match='has no default_scope'):
        resolve_task(None, 'c.py')


def test_flip_tta_pipeline_keeps_flip_meta_keys():
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackDetInputs', meta_keys=('img_id', ))]
    tta = flip_tta_pipeline(pipeline)
    assert tta[0] == pipeline[0] and tta[-1]['type'] == 'TestTimeAug'
    assert tta[-1]['transforms'][1][0]['meta_keys'] == ('img_id', 'flip', 'flip_direction')


def test_both_local_rank_spellings():
    parser = build_train_parser()
    assert parser.parse_args(['c.py', '--local-rank', '3']).local_rank == 3
    assert parser.parse_args(['c.py', '--local_rank', '2']).local_rank == 2


# ----------------------------------------------------------------- launcher scripts
SCRIPTS = ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh',
           'slurm_sbatch.sh', 'slurm_common.sh']


@pytest.mark.parametrize('script', SCRIPTS)
def test_script_syntax(script):
    subprocess.run(['bash', '-n', str(REPO_ROOT / 'tools' / script)], check=True)


@pytest.fixture
def echo_stub(tmp_path) -> Path:
    """An executable that prints PYTHONPATH and then its arguments, one per line."""
    stub = tmp_path / 'bin' / 'echo_args'
    stub.parent.mkdir()
    stub.write_text('#!/usr/bin/env bash\necho "PYTHONPATH=$PYTHONPATH"\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    return stub


def stub_lines(script: str, args: list, env: dict, cwd: Path) -> list:
    """Run a launcher script (from ``cwd``) and return the stub's output lines."""
    return run_script(script, *args, env=env, cwd=cwd, check=True).stdout.splitlines()


def test_dist_train_assembles_torchrun_command(echo_stub, tmp_path):
    lines = stub_lines('dist_train.sh', ['c.py', '2', '--cfg-options', 'a=[1, 2]'],
                       dict(PYTHON=str(echo_stub), NNODES='2', NODE_RANK='1', PORT='29999',
                            MASTER_ADDR='10.0.0.1', PYTHONPATH='/extra'), cwd=tmp_path)
    assert lines == [
        f'PYTHONPATH={REPO_ROOT}:/extra', str(REPO_ROOT / 'tools' / 'torchrun.py'), '--nnodes=2',
        '--node-rank=1', '--master-addr=10.0.0.1', '--nproc-per-node=2', '--master-port=29999',
        str(REPO_ROOT / 'tools' / 'train.py'), 'c.py', '--launcher', 'pytorch',
        '--cfg-options', 'a=[1, 2]']


def test_dist_test_assembles_torchrun_command(echo_stub, tmp_path):
    lines = stub_lines('dist_test.sh', ['c.py', 'ck.pth', '1', '--out', 'r.pkl'],
                       dict(PYTHON=str(echo_stub), PYTHONPATH=''), cwd=tmp_path)
    assert lines == [
        f'PYTHONPATH={REPO_ROOT}', str(REPO_ROOT / 'tools' / 'torchrun.py'), '--nnodes=1',
        '--node-rank=0', '--master-addr=127.0.0.1', '--nproc-per-node=1', '--master-port=29500',
        str(REPO_ROOT / 'tools' / 'test.py'), 'c.py', 'ck.pth', '--launcher', 'pytorch',
        '--out', 'r.pkl']


@pytest.mark.parametrize('script, fourth, tail', [
    ('slurm_train.sh', 'wd', ['train.py', 'c.py', '--work-dir=wd']),
    ('slurm_test.sh', 'ck.pth', ['test.py', 'c.py', 'ck.pth']),
])
@pytest.mark.parametrize('partition_gres, gres_env, expected_gres', [
    ('gpu:8', None, ['--gres=gpu:4']),          # GPU partition: GPUS_PER_NODE GPUs per node
    ('(null)', None, []),                        # CPU partition: no GPUs asked for
    ('(null)', 'gpu:a100:4', ['--gres=gpu:a100:4']),
    ('gpu:8', 'none', []),
])
def test_slurm_scripts_assemble_srun_command(echo_stub, tmp_path, script, fourth, tail,
                                             partition_gres, gres_env, expected_gres):
    (echo_stub.parent / 'srun').symlink_to(echo_stub)
    sinfo = echo_stub.parent / 'sinfo'   # what `sinfo -h -p part -o %G` prints
    sinfo.write_text(f'#!/usr/bin/env bash\necho "{partition_gres}"\n')
    sinfo.chmod(0o755)
    env = dict(PATH=f'{echo_stub.parent}:{os.environ["PATH"]}', PYTHON='py', GPUS='16',
               GPUS_PER_NODE='4', CPUS_PER_TASK='3', SRUN_ARGS='--qos=high --time=5',
               PYTHONPATH='')
    if gres_env:
        env['GRES'] = gres_env
    lines = stub_lines(script, ['part', 'job', 'c.py', fourth, '--amp'], env, cwd=tmp_path)
    assert lines == [
        f'PYTHONPATH={REPO_ROOT}', '-p', 'part', '--job-name=job', *expected_gres,
        '--ntasks=16', '--ntasks-per-node=4', '--cpus-per-task=3', '--kill-on-bad-exit=1',
        '--qos=high', '--time=5', 'py', '-u', str(REPO_ROOT / 'tools' / tail[0]), *tail[1:],
        '--launcher=slurm', '--amp']
