"""emo_mm.analysis.step_flops counts a training step's FLOPs: 2 per multiply-add, a
convolution's input and weight gradients each as many as its forward pass, grouped
(depthwise) convolutions included."""
import pytest
import torch
import torch.nn.functional as F

from emo_mm.analysis import matmul_rate, step_flops


@pytest.mark.parametrize('groups', [1, 4, 16])
def test_conv_forward_and_backward(groups):
    x = torch.randn(2, 16, 12, 12, requires_grad=True)
    w = torch.randn(16, 16 // groups, 3, 3, requires_grad=True)
    forward = 2 * (2 * 16 * 10 * 10) * (16 // groups) * 3 * 3   # out elements x MACs each
    assert step_flops(lambda: F.conv2d(x, w, groups=groups)) == forward
    assert step_flops(lambda: F.conv2d(x, w, groups=groups).sum().backward()) == 3 * forward
    x.requires_grad_(False)   # weight gradient only
    assert step_flops(lambda: F.conv2d(x, w, groups=groups).sum().backward()) == 2 * forward


def test_matmul_forward_and_backward_and_the_matmul_rate():
    a, b = torch.randn(8, 32, requires_grad=True), torch.randn(32, 4, requires_grad=True)
    assert step_flops(lambda: (a @ b).sum().backward()) == 3 * 2 * 8 * 32 * 4
    assert matmul_rate(torch.float32, n=64, runs=2) > 0
