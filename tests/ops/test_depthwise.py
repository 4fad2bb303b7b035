"""emo_mm's depthwise weight-gradient kernel against PyTorch's own, and its fallbacks."""
import os
import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from emo_mm.models.layers import ConvNormAct
from emo_mm.ops import depthwise_conv2d, depthwise_weight_grad, native_kernels_available

SWITCHED_OFF = os.environ.get('EMO_MM_NATIVE_KERNELS') == '0'
NO_COMPILER = not (os.environ.get('CC') or shutil.which('cc') or shutil.which('gcc'))
needs_kernel = pytest.mark.skipif(
    SWITCHED_OFF or NO_COMPILER,
    reason='EMO_MM_NATIVE_KERNELS=0 is set' if SWITCHED_OFF else
    'no C compiler (cc, gcc or $CC) to build the kernel: PyTorch\'s path runs instead, '
    'tested by test_without_the_kernel_pytorch_runs_and_says_why')


@pytest.fixture
def built_kernel():
    """Where a compiler exists the kernel must build: a failed build fails these tests."""
    assert native_kernels_available(), 'the C kernel did not build: see the warning logged above'


def torch_grads(x, weight, bias, stride, padding, grad_out):
    x, weight = x.detach().requires_grad_(), weight.detach().requires_grad_()
    bias = None if bias is None else bias.detach().requires_grad_()
    F.conv2d(x, weight, bias, stride, padding, groups=x.shape[1]).backward(grad_out)
    return x.grad, weight.grad, None if bias is None else bias.grad


@needs_kernel
@pytest.mark.parametrize('shape,kernel,stride,padding', [
    ((2, 8, 13, 11), (5, 5), (2, 2), (2, 2)),
    ((3, 5, 9, 9), (3, 3), (1, 1), (1, 1)),
    ((1, 16, 7, 12), (5, 3), (1, 2), (0, 1)),
    ((2, 4, 6, 6), (3, 3), (3, 3), (2, 0)),
])
@pytest.mark.parametrize('channels_last', [True, False])
@pytest.mark.usefixtures('built_kernel')
def test_weight_grad_equals_pytorch_in_float64(shape, kernel, stride, padding, channels_last):
    torch.manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(shape[1], 1, *kernel, dtype=torch.float64)
    out = F.conv2d(x, weight, None, stride, padding, groups=shape[1])
    grad_out = torch.randn_like(out)
    expected = torch_grads(x, weight, None, stride, padding, grad_out)[1]
    got = depthwise_weight_grad(x, grad_out, kernel, stride, padding)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


@needs_kernel
@pytest.mark.usefixtures('built_kernel')
def test_all_gradients_equal_pytorch_in_float32():
    torch.manual_seed(0)
    x = torch.randn(4, 24, 20, 20).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(24, 1, 5, 5), torch.randn(24)
    grad_out = torch.randn(4, 24, 10, 10).contiguous(memory_format=torch.channels_last)
    expected = torch_grads(x, weight, bias, (2, 2), (2, 2), grad_out)
    xs, ws, bs = (t.detach().requires_grad_() for t in (x, weight, bias))
    out = depthwise_conv2d(xs, ws, bs, (2, 2), (2, 2))
    torch.testing.assert_close(out, F.conv2d(x, weight, bias, 2, 2, groups=24))
    out.backward(grad_out)
    for got, want in zip((xs.grad, ws.grad, bs.grad), expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


@needs_kernel
@pytest.mark.usefixtures('built_kernel')
def test_conv_norm_act_trains_through_the_kernel_with_the_same_gradients():
    torch.manual_seed(0)
    block = ConvNormAct(16, 16, 5, 2, groups=16, norm='bn', act='silu')
    x = torch.randn(2, 16, 12, 12).contiguous(memory_format=torch.channels_last)
    block(x).square().sum().backward()
    got = block.conv.weight.grad.clone()
    block.zero_grad()
    block.depthwise = False                 # plain nn.Conv2d, oneDNN's weight gradient
    block(x).square().sum().backward()
    torch.testing.assert_close(got, block.conv.weight.grad, rtol=1e-4, atol=1e-5)


SCRIPT = ('import torch; from emo_mm.ops import native_kernels_available, depthwise_conv2d; '
          'x = torch.randn(1, 4, 6, 6); w = torch.randn(4, 1, 3, 3, requires_grad=True); '
          'depthwise_conv2d(x, w, None, (1, 1), (1, 1)).sum().backward(); '
          'print("available", native_kernels_available(), float(w.grad.sum()) != 0)')


@pytest.mark.parametrize('env,reason', [
    ({'EMO_MM_NATIVE_KERNELS': '0'}, 'EMO_MM_NATIVE_KERNELS=0'),
    ({'CC': '/bin/false'}, 'failed'),
])
def test_without_the_kernel_pytorch_runs_and_says_why(tmp_path, env, reason):
    base = {k: v for k, v in os.environ.items() if k != 'EMO_MM_NATIVE_KERNELS'}
    env = dict(base, EMO_MM_CACHE=str(tmp_path), **env)
    done = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'available False True' in done.stdout
    assert 'native CPU kernels are off' in done.stdout + done.stderr
    assert reason in done.stdout + done.stderr
