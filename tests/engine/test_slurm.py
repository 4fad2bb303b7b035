"""The Slurm launchers on a real (throwaway, one-node) Slurm with a CPU partition:
tools/slurm_train.sh with 2 tasks and no GPUs, and tools/slurm_sbatch.sh interrupted in the
middle of a run (requeued as a preemption does, or warned of its time limit), which
resumes by itself and ends with the same weights as the uninterrupted run.

Slurm must be installed (``tools/install.sh`` does it where it can): under CI a missing
Slurm fails these tests instead of skipping them.
"""
import os
import subprocess
import sys
import time

import pytest
from slurm_cluster import LocalSlurm, missing_slurm_programs
from helpers import (PROBE_ENV, REPO_ROOT, TOOL_ENV, cls_demo_config, differing_tensors,
                     final_weights, newest_log)

pytestmark = pytest.mark.e2e   # runs the tools as processes

RUN = """\
model = dict(backbone=dict(drop_path_rate=0.1))
train_dataloader = dict(batch_size=4)
train_cfg = dict(max_epochs=4, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=2))
"""
JOB_TIMEOUT_S = 300


@pytest.fixture(scope='module')
def slurm(tmp_path_factory):
    problem = None
    if missing_slurm_programs():
        problem = (f'Slurm is not installed ({", ".join(missing_slurm_programs())} missing): '
                   'run tools/install.sh as root, or apt-get install slurm-wlm')
    elif os.geteuid() != 0:
        problem = 'the throwaway Slurm runs its daemons as root'
    if problem:
        if os.environ.get('CI'):
            pytest.fail(problem)
        pytest.skip(problem)
    cluster = LocalSlurm(tmp_path_factory.mktemp('slurm'))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope='module')
def config(tmp_path_factory, small_shapes_root):
    return cls_demo_config(tmp_path_factory.mktemp('slurm_cfg') / 'cls.py', small_shapes_root,
                           RUN)


def job_env(slurm: LocalSlurm, port: int) -> dict:
    return {**TOOL_ENV, **PROBE_ENV, 'SLURM_CONF': str(slurm.conf), 'MASTER_PORT': str(port)}


@pytest.fixture(scope='module')
def uninterrupted(slurm, config, tmp_path_factory):
    """tools/slurm_train.sh on the CPU partition: 2 tasks, no GPUs."""
    work_dir = tmp_path_factory.mktemp('slurm_train') / 'work_dir'
    env = {**job_env(slurm, 29641), 'GPUS': '2', 'GPUS_PER_NODE': '2', 'CPUS_PER_TASK': '1',
           'PYTHON': sys.executable}
    start = time.perf_counter()
    result = subprocess.run(['bash', 'tools/slurm_train.sh', 'cpu', 'emo_mm_test', str(config),
                             str(work_dir)], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=JOB_TIMEOUT_S)
    print(f'\nslurm_train.sh, 2 tasks: {time.perf_counter() - start:.1f} s')
    return work_dir, result


def test_slurm_train_runs_on_a_cpu_partition(uninterrupted):
    work_dir, result = uninterrupted
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "partition 'cpu' has no GPUs: starting CPU tasks" in result.stderr
    assert '--gres' not in result.stderr
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_2.pth', 'epoch_4.pth']
    log = newest_log(work_dir)
    assert 'distributed: 2 processes, launcher slurm, backend gloo' in log
    assert 'Epoch(train) [4][4/4]' in log and 'accuracy/top1' in log


#: How the job is interrupted in epoch 2: preempted (``scontrol requeue``: SIGTERM to every
#: process, Slurm requeues), or warned of its time limit (what ``--signal=USR1@180`` does:
#: SIGUSR1 to the job steps, the script requeues the job itself).
INTERRUPTIONS = {
    'preempted': (['scontrol', 'requeue'], 'SIGTERM'),
    'time_limit': (['scancel', '--signal=USR1'], 'SIGUSR1'),
}


@pytest.mark.parametrize('interruption', INTERRUPTIONS)
def test_an_interrupted_job_resumes_by_itself_to_the_same_weights(slurm, config, uninterrupted,
                                                                 tmp_path, interruption):
    reference_dir, reference = uninterrupted
    assert reference.returncode == 0
    work_dir, output = tmp_path / 'work_dir', tmp_path / 'job.out'
    port = 29642 + list(INTERRUPTIONS).index(interruption)
    submitted = subprocess.run(
        ['sbatch', '--parsable', '-p', 'cpu', '--ntasks=2', '--ntasks-per-node=2',
         '--cpus-per-task=1', f'--output={output}', 'tools/slurm_sbatch.sh', str(config),
         str(work_dir)], cwd=REPO_ROOT, env={**job_env(slurm, port), 'PYTHON': sys.executable},
        capture_output=True, text=True, timeout=60, check=True)
    job = submitted.stdout.strip().split(';')[0]
    start = time.perf_counter()
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while 'Epoch(train) [2][1/4]' not in _log_or_empty(work_dir):
        assert slurm.job_field(job, 'JobState') in ('PENDING', 'RUNNING'), output.read_text()
        assert time.monotonic() < deadline, 'the job did not get to epoch 2'
        time.sleep(0.02)
    command, signal_name = INTERRUPTIONS[interruption]
    interrupt = slurm.command(*command, job)
    assert interrupt.returncode == 0, interrupt.stderr
    state = slurm.wait_job(job, JOB_TIMEOUT_S)
    print(f'\n{interruption} sbatch job, 2 tasks: {time.perf_counter() - start:.1f} s in all')
    text = output.read_text()
    assert state == 'COMPLETED', text[-4000:]
    assert slurm.job_field(job, 'Restarts') == '1'
    assert f'[slurm_sbatch] job {job} start 2' in text
    assert f'received {signal_name}: stopped after iteration' in text
    assert 'resumed epoch: 1, iter: ' in text
    assert not (work_dir / 'slurm_stopped_on_signal').exists()  # the stop was consumed
    assert differing_tensors(final_weights(work_dir / 'epoch_4.pth'),
                             final_weights(reference_dir / 'epoch_4.pth')) == []


def _log_or_empty(work_dir) -> str:
    try:
        return newest_log(work_dir)
    except (FileNotFoundError, ValueError):
        return ''
