"""Depthwise convolution whose CPU backward computes the weight gradient with emo_mm's C
kernel (:mod:`.native`) and the input gradient with PyTorch's own kernel (oneDNN).

oneDNN's weight gradient of a channels-last depthwise convolution takes 5-10x the time of its
forward pass; it was the largest single item of a RetinaNet demo training step
(``tools/analysis/profile_train_step.py``). The forward pass is ``F.conv2d`` unchanged.
"""
from __future__ import annotations

import ctypes
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .native import NativeKernelError, library

Pair = Tuple[int, int]


def depthwise_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel_size: Pair,
                          stride: Pair, padding: Pair) -> torch.Tensor:
    """``(C, 1, kh, kw)`` gradient of a depthwise convolution's weight, from its input ``x``
    ``(N, C, H, W)`` and output gradient (float32 or float64, CPU, dilation 1)."""
    lib = library()
    if lib is None:
        raise NativeKernelError('emo_mm native kernels are not available')
    n, c, h, w = x.shape
    ho, wo = grad_out.shape[-2:]
    fn = {torch.float32: lib.emo_depthwise_wgrad_f32,
          torch.float64: lib.emo_depthwise_wgrad_f64}[x.dtype]
    x_cl = x.contiguous(memory_format=torch.channels_last)
    go_cl = grad_out.to(x.dtype).contiguous(memory_format=torch.channels_last)
    out = x.new_empty(c, 1, *kernel_size)
    failed = fn(ctypes.c_void_p(x_cl.data_ptr()), ctypes.c_void_p(go_cl.data_ptr()),
                ctypes.c_void_p(out.data_ptr()), n, h, w, c, ho, wo, *kernel_size, *stride,
                *padding, torch.get_num_threads())
    if failed:
        raise NativeKernelError('depthwise weight gradient: out of memory')
    return out


class _DepthwiseConv2d(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                stride: Pair, padding: Pair) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, bias is not None)
        return F.conv2d(x, weight, bias, stride, padding, groups=x.shape[1])

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, weight = ctx.saved_tensors
        stride, padding, has_bias = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_w = grad_b = None
        if need_x:
            grad_x = torch.ops.aten.convolution_backward(
                grad_out, x, weight, None, stride, padding, (1, 1), False, (0, 0),
                x.shape[1], (True, False, False))[0]
        if need_w:
            grad_w = depthwise_weight_grad(x, grad_out, weight.shape[-2:], stride, padding)
        if need_b and has_bias:
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


def uses_native_weight_grad(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`depthwise_conv2d` would take its weight gradient from the C kernel:
    under autograd, on a CPU, in float32 or float64, not tracing or compiling (those must
    see ``F.conv2d``), with the native kernels built."""
    return (torch.is_grad_enabled() and weight.requires_grad and x.device.type == 'cpu'
            and x.dtype in (torch.float32, torch.float64) and weight.dtype == x.dtype
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling()
            and library() is not None)


def depthwise_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor],
                     stride: Pair, padding: Pair) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding, groups=C)`` (dilation 1), whose weight
    gradient comes from :func:`depthwise_weight_grad` where :func:`uses_native_weight_grad`
    says so; otherwise this is ``F.conv2d`` itself."""
    if uses_native_weight_grad(x, weight):
        return _DepthwiseConv2d.apply(x, weight, bias, tuple(stride), tuple(padding))
    return F.conv2d(x, weight, bias, stride, padding, groups=x.shape[1])
