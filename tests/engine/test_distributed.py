"""Multi-process training with real processes on CPUs (gloo): tools/dist_train.sh with
torchrun, two torchrun agents as two nodes, and the launcher's one-line failure.

The classifier demo trains on a deterministic pipeline with ``norm_eval`` (no batch
statistics, no augmentation, no drop path), so 2 processes x batch 4 must follow 1 process
x batch 8: the mean of the two ranks' losses equals the single loss of each iteration.
Measured here: losses within 5e-7 (relative), weights after 8 AdamW steps within 2.4e-5
(AdamW divides by the root of the second moment, which magnifies rounding in the
all-reduce for near-zero gradients); the two ranks' weights are bit-identical.
"""
import time

import pytest
import torch
from helpers import (PROBE_ENV, cls_demo_config, differing_tensors, newest_log, run_script,
                     run_tool, start_script)

pytestmark = pytest.mark.e2e   # runs the tools as processes

LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-4

DETERMINISTIC = """\
model = dict(backbone=dict(norm_eval=True))
train_dataloader = dict(num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline={{_base_.test_pipeline}}))
val_dataloader = dict(num_workers=0, persistent_workers=False)
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2))
custom_hooks = [dict(type='RankProbeHook')]
"""


def probes(folder) -> list:
    return [torch.load(path, weights_only=False) for path in sorted(folder.glob('rank*.pt'))]


@pytest.fixture(scope='module')
def runs(tmp_path_factory, small_shapes_root):
    """The same training as 1 process x batch 8 and as 2 processes x batch 4."""
    tmp = tmp_path_factory.mktemp('dist')
    config = cls_demo_config(tmp / 'cls_deterministic.py', small_shapes_root, DETERMINISTIC)
    out = {}
    start = time.perf_counter()
    single = run_tool('train.py', config, '--work-dir', tmp / 'one',
                      env={**PROBE_ENV, 'RANK_PROBE_DIR': str(tmp / 'probe_one')})
    out['one_s'] = time.perf_counter() - start
    assert single.returncode == 0, single.stderr[-3000:]
    start = time.perf_counter()
    double = run_script('dist_train.sh', config, 2, '--work-dir', tmp / 'two', '--cfg-options',
                        'train_dataloader.batch_size=4',
                        env={**PROBE_ENV, 'RANK_PROBE_DIR': str(tmp / 'probe_two'),
                             'PORT': '29631'})
    out['two_s'] = time.perf_counter() - start
    assert double.returncode == 0, double.stderr[-3000:]
    print(f"\n1 process: {out['one_s']:.1f} s, 2 processes: {out['two_s']:.1f} s")
    return dict(tmp=tmp, config=config, one=probes(tmp / 'probe_one'),
                two=probes(tmp / 'probe_two'), **out)


def test_two_processes_follow_one_with_twice_the_batch(runs):
    (one, ), (rank0, rank1) = runs['one'], runs['two']
    assert rank0['world_size'] == rank1['world_size'] == 2
    assert len(one['losses']) == len(rank0['losses']) == 8
    mean_of_ranks = [(a + b) / 2 for a, b in zip(rank0['losses'], rank1['losses'])]
    assert mean_of_ranks == pytest.approx(one['losses'], rel=LOSS_RTOL)
    assert rank0['losses'] != rank1['losses']  # the ranks did see different samples
    assert differing_tensors(rank0['state_dict'], rank1['state_dict']) == []
    worst = max((one['state_dict'][k] - rank0['state_dict'][k]).abs().max().item()
                for k in one['state_dict'] if one['state_dict'][k].is_floating_point())
    assert worst <= WEIGHT_ATOL


def test_only_rank_zero_writes_logs_and_checkpoints(runs):
    work_dir = runs['tmp'] / 'two'
    run_dirs = [p for p in work_dir.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1
    assert [p.name for p in run_dirs[0].glob('*.log')] == [f'{run_dirs[0].name}.log']
    assert not list(work_dir.rglob('*rank*'))
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_2.pth']
    log = newest_log(work_dir)
    assert 'distributed: 2 processes, launcher pytorch, backend gloo' in log
    assert (torch.load(work_dir / 'epoch_2.pth', weights_only=False)['state_dict'].keys()
            == runs['two'][0]['state_dict'].keys())


def test_two_nodes_form_one_job(runs):
    """Two torchrun agents (NNODES=2, one process each) train as the 2-process job does."""
    tmp = runs['tmp']
    env = {**PROBE_ENV, 'RANK_PROBE_DIR': str(tmp / 'probe_nodes'), 'NNODES': '2',
           'PORT': '29632'}
    args = [runs['config'], '1', '--work-dir', tmp / 'nodes', '--cfg-options',
            'train_dataloader.batch_size=4']
    agents = [start_script('dist_train.sh', *args, env={**env, 'NODE_RANK': str(node)})
              for node in (1, 0)]
    outputs = [agent.communicate(timeout=600)[0] for agent in agents]
    assert [agent.returncode for agent in agents] == [0, 0], outputs[1][-3000:]
    rank0, rank1 = probes(tmp / 'probe_nodes')
    assert rank0['world_size'] == 2
    assert rank0['losses'] == runs['two'][0]['losses']
    assert differing_tensors(rank1['state_dict'], runs['two'][1]['state_dict']) == []


def test_launcher_failure_is_one_line_with_the_tools_exit_code(runs, tmp_path):
    result = run_script('dist_train.sh', runs['config'], 2, '--work-dir', tmp_path,
                        '--cfg-options', 'model.backbone.arch=7m',
                        env={**PROBE_ENV, 'PORT': '29633'})
    assert result.returncode == 2, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if 'error' in line.lower()]
    assert sum("unknown EMOv2 arch '7m'" in line for line in errors) == 1  # rank 0 only
    assert 'torchrun: ' in result.stderr and 'exited with code 2' in result.stderr
