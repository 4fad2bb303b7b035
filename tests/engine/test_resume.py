"""Exact resume through tools/train.py: a run killed (SIGKILL) right after a checkpoint, or
stopped by SIGTERM in the middle of an epoch, continues with ``--resume`` to weights that
are bit-identical to an uninterrupted run's; a kill during a save leaves no truncated
checkpoint behind.

The classifier demo as shipped (random crops, flips and turns in a persistent worker)
plus drop path: everything that made mmengine's resume inexact (207 of 228 tensors
differed with its own Runner: workers' random state, main-process random state).
"""
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest
from helpers import (PROBE_ENV, cls_demo_config, differing_tensors, final_weights, newest_log,
                     run_tool, start_tool)

pytestmark = pytest.mark.e2e   # runs the tools as processes

RANDOM_RUN = """\
model = dict(backbone=dict(drop_path_rate=0.1))
train_cfg = dict(max_epochs=3, val_interval=1)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=5))
"""
ITERATION_RUN = RANDOM_RUN + """\
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=12, val_interval=6)
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=4),
                   dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=12, T_max=12)]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4))
log_processor = dict(by_epoch=False)
"""
KINDS = {'epoch': (RANDOM_RUN, 'epoch_1.pth', 'epoch_3.pth'),
         'iteration': (ITERATION_RUN, 'iter_4.pth', 'iter_12.pth')}


def start_training(config: Path, work_dir: Path, *args: str,
                   env: Optional[dict] = None) -> subprocess.Popen:
    return start_tool('train.py', config, '--work-dir', work_dir, *args,
                      env={**PROBE_ENV, **(env or {})}, stdout=subprocess.DEVNULL,
                      stderr=subprocess.PIPE)


def wait_for(condition, process: subprocess.Popen, timeout: float = 300,
             poll_s: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f'training ended first: {process.stderr.read()[-3000:]}'
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(poll_s)


def train(config: Path, work_dir: Path, *args: str) -> subprocess.CompletedProcess:
    result = run_tool('train.py', config, '--work-dir', work_dir, *args, env=PROBE_ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope='module')
def references(tmp_path_factory, small_shapes_root) -> dict:
    """Config and uninterrupted final weights, per kind of loop."""
    tmp = tmp_path_factory.mktemp('resume')
    out = {}
    for kind, (body, _, last) in KINDS.items():
        config = cls_demo_config(tmp / f'{kind}.py', small_shapes_root, body)
        train(config, tmp / f'{kind}_uninterrupted')
        out[kind] = config, final_weights(tmp / f'{kind}_uninterrupted' / last)
    return out


@pytest.mark.parametrize('kind', KINDS)
def test_sigkill_after_a_checkpoint_then_resume_is_bit_identical(kind, references, tmp_path):
    config, expected = references[kind]
    _, first, last = KINDS[kind]
    work_dir = tmp_path / 'killed'
    process = start_training(config, work_dir)
    wait_for(lambda: (work_dir / first).exists(), process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (work_dir / last).exists()
    train(config, work_dir, '--resume')
    log = newest_log(work_dir)
    assert f'Auto resumed from the latest checkpoint {work_dir / first}' in log
    assert differing_tensors(final_weights(work_dir / last), expected) == []


def test_sigterm_mid_epoch_saves_and_resume_is_bit_identical(references, tmp_path):
    config, expected = references['epoch']
    work_dir, stop_file = tmp_path / 'stopped', tmp_path / 'stop_message'
    process = start_training(config, work_dir, env={'EMO_MM_STOP_FILE': str(stop_file)})
    wait_for(lambda: 'Epoch(train) [2][1/4]' in _log_or_empty(work_dir), process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr[-3000:]
    (line, ) = [line for line in stderr.splitlines() if 'train.py: stopped:' in line]
    assert 'received SIGTERM: stopped after iteration' in line and '--resume' in line
    # what tools/slurm_sbatch.sh reads when srun reports another exit code than 3
    assert stop_file.read_text() == line.split('train.py: stopped: ')[1] + '\n'
    saved = sorted(work_dir.glob('iter_*.pth'))
    assert len(saved) == 1 and int(saved[0].stem.split('_')[1]) % 4 != 0  # mid-epoch
    assert (work_dir / 'last_checkpoint').read_text() == str(saved[0])
    train(config, work_dir, '--resume')
    assert differing_tensors(final_weights(work_dir / 'epoch_3.pth'), expected) == []


def _log_or_empty(work_dir: Path) -> str:
    try:
        return newest_log(work_dir)
    except (FileNotFoundError, ValueError):
        return ''


def test_kill_during_a_save_leaves_no_truncated_checkpoint(references, tmp_path):
    config, expected = references['epoch']
    bulky = tmp_path / 'bulky.py'
    bulky.write_text(f"_base_ = [{str(config)!r}]\n"
                     "custom_hooks = [dict(type='BulkyCheckpointHook', megabytes=256)]\n")
    work_dir = tmp_path / 'killed_saving'
    partial = work_dir / '.epoch_2.pth.partial'
    process = start_training(bulky, work_dir)
    wait_for(lambda: partial.exists(), process, poll_s=0.001)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert partial.exists(), 'the kill came after the save had finished'
    assert not (work_dir / 'epoch_2.pth').exists()
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_1.pth')
    train(bulky, work_dir, '--resume')
    assert not partial.exists()
    assert 'left by a save that was interrupted' in newest_log(work_dir)
    assert differing_tensors(final_weights(work_dir / 'epoch_3.pth'), expected) == []
    assert os.path.getsize(work_dir / 'epoch_3.pth') > 256 * 2**20


def test_resume_with_another_optimizer_layout_stops_with_one_line(references, tmp_path):
    """A checkpoint whose optimizer state has other param groups (here: mmengine's default
    constructor, one group per parameter) stops --resume with a line that says what to do."""
    config, _ = references['epoch']
    checkpoint = config.parent / 'epoch_uninterrupted' / 'epoch_1.pth'
    result = run_tool('train.py', config, '--work-dir', tmp_path, '--resume', checkpoint,
                      '--cfg-options', 'optim_wrapper.constructor=DefaultOptimWrapperConstructor',
                      env=PROBE_ENV)
    assert result.returncode == 2, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f'train.py: error: {checkpoint}: its optimizer state does not fit')
    assert 'Traceback' not in result.stderr
