"""Side-by-side timing: calls of several functions interleaved, so that host drift (other
processes, frequency changes) lands on all of them alike and their ratios stay fair."""
import statistics
import time
from typing import Callable, Dict, List

import torch


def synchronize(device: str) -> None:
    """Wait for queued GPU work (a no-op on the CPU)."""
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def time_round_robin(fns: Dict[str, Callable[[], object]], runs: int, warmup: int,
                     device: str = 'cpu') -> Dict[str, float]:
    """Median seconds per call of each function, calls interleaved across functions."""
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for i in range(warmup + runs):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding,
                         _dilation, transposed, _output_padding, _groups, output_mask,
                         out_shape=None, **kwargs) -> int:
    """A convolution's input and weight gradients each take as many multiply-adds as its
    forward pass. (torch's own formula counts a grouped convolution's weight gradient as
    if it were dense: C times too much for a depthwise convolution of C channels.)"""
    from torch.utils.flop_counter import conv_flop_count
    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed=transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def step_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations of one call of ``fn`` (e.g. a training step: forward and
    backward), counted by ``torch.utils.flop_counter`` over the matmuls, convolutions and
    attention kernels it dispatches (2 per multiply-add); elementwise ops count nothing,
    nor do kernels outside PyTorch (:mod:`emo_mm.ops`)."""
    from torch.utils.flop_counter import FlopCounterMode
    mapping = {torch.ops.aten.convolution_backward: _conv_backward_flops}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def matmul_rate(dtype: torch.dtype, n: int = 2048, runs: int = 10,
                device: str = 'cpu') -> float:
    """FLOP/s of an ``n x n`` by ``n x n`` matmul in ``dtype`` (median of ``runs``): the
    rate the machine's GEMM reaches, to set a model's achieved rate against."""
    generator = torch.Generator(device).manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator, device=device).to(dtype) for _ in range(2))
    seconds = time_round_robin({'mm': lambda: torch.mm(a, b)}, runs, warmup=2, device=device)
    return 2 * n ** 3 / seconds['mm']
