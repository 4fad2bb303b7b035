"""Where a training step's time goes: the profiler's ops sorted into kinds (real
torch.profiler runs of a small network with each kind in it), and
tools/analysis/profile_train_step.py on the classifier demo."""
import math

import pytest
import torch
from torch import nn

from emo_mm.analysis.op_profile import (DENSE_CONV_BWD, DENSE_CONV_FWD, DW_CONV_BWD, DW_CONV_FWD,
                                        GEMM, MATRIX_KINDS, OP_KINDS, OPTIMIZER, format_profile,
                                        matrix_bound_speedup, op_kind, profile_step)
from helpers import PROBE_ENV, cls_demo_config, run_tool


def test_convolutions_are_told_apart_by_their_weight_shape():
    x, dense_w, dw_w = (8, 16, 12, 12), (32, 16, 3, 3), (16, 1, 5, 5)
    assert op_kind('aten::mkldnn_convolution', [x, dense_w, [32]]) == DENSE_CONV_FWD
    assert op_kind('aten::mkldnn_convolution', [x, dw_w, [16]]) == DW_CONV_FWD
    assert op_kind('aten::convolution_backward', [x, x, dw_w, [], []]) == DW_CONV_BWD
    assert op_kind('aten::convolution_backward', [(8, 32, 12, 12), x, dense_w, []]) == \
        DENSE_CONV_BWD
    # one input channel (a grayscale stem) is a dense convolution
    assert op_kind('aten::mkldnn_convolution', [(2, 1, 8, 8), (8, 1, 3, 3), []]) == DENSE_CONV_FWD
    assert op_kind('aten::bmm', [(4, 5, 6), (4, 6, 7)]) == GEMM


def test_a_training_step_is_split_into_its_kinds():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.GELU(),
                          nn.Conv2d(16, 16, 5, padding=2, groups=16), nn.Flatten(),
                          nn.Linear(16 * 8 * 8, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    images, labels = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4, ))

    def step(_: int) -> None:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()

    result = profile_step(step, steps=2, warmup=1)
    assert set(result.kind_ms) == set(OP_KINDS)
    for kind in (GEMM, DENSE_CONV_FWD, DENSE_CONV_BWD, DW_CONV_FWD, DW_CONV_BWD, OPTIMIZER,
                 'norms', 'activations, softmax'):
        assert result.kind_ms[kind] > 0, kind
    assert result.share(OP_KINDS) == pytest.approx(1.0)
    assert 1.0 < matrix_bound_speedup(result) == pytest.approx(
        1 / (1 - result.share(MATRIX_KINDS)))
    assert result.step_ms > 0 and result.profiled_step_ms > 0
    table = format_profile(result)
    assert '| depthwise convolution, backward |' in table and 'at most' in table
    with pytest.raises(ValueError, match='steps must be >= 1'):
        profile_step(step, steps=0, warmup=0)


@pytest.mark.e2e
def test_profile_train_step_tool_on_the_classifier_demo(small_shapes_root, tmp_path):
    config = cls_demo_config(tmp_path / 'cls.py', small_shapes_root)
    trace = tmp_path / 'trace.json'
    result = run_tool('analysis/profile_train_step.py', config, '--steps', '1', '--warmup', '1',
                      '--threads', '1', '--trace', trace, env=PROBE_ENV, check=True)
    shares = [float(line.split('|')[3].strip(' %')) for line in result.stdout.splitlines()
              if line.startswith('| ') and line.endswith('% |')]
    # each share is printed to 0.1 %, so their sum is within 0.05 % per kind of 100 %
    assert len(shares) == len(OP_KINDS)
    assert math.isclose(sum(shares), 100, abs_tol=0.05 * len(OP_KINDS) + 1e-9)
    assert 'OptimWrapper, 1 threads, batch size 8' in result.stdout
    assert 'paramwise_options' not in result.stdout + result.stderr  # the table alone
    assert trace.stat().st_size > 0 and 'the step would be at most' in result.stdout
    no_folder = run_tool('analysis/profile_train_step.py', config, '--trace',
                         tmp_path / 'missing' / 't.json', env=PROBE_ENV)
    assert no_folder.returncode == 2 and 'Traceback' not in no_folder.stderr
    assert 'its folder does not exist' in no_folder.stderr.strip().splitlines()[-1]
    bad = run_tool('analysis/profile_train_step.py', config, '--steps', '0',
                   env=PROBE_ENV)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        'profile_train_step.py: error: --steps must be >= 1 and --warmup >= 0 (got 0 and 3)')
