"""Where a training step spends its time, by kind of op.

:func:`profile_step` runs a step under ``torch.profiler`` and adds up the self CPU time of
every op by :data:`OP_KINDS` (GEMMs, dense and depthwise convolutions forward and backward,
norms, activations, copies, the optimizer's update, the rest). The GEMM and dense
convolution share bounds what a faster matrix unit can give (bfloat16 on AMX, say): the
rest of the step does not get faster with it (:func:`matrix_bound_speedup`).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

from torch.profiler import ProfilerActivity, profile

GEMM = 'GEMM (linear, matmul)'
DENSE_CONV_FWD = 'dense convolution, forward'
DENSE_CONV_BWD = 'dense convolution, backward'
DW_CONV_FWD = 'depthwise convolution, forward'
DW_CONV_BWD = 'depthwise convolution, backward'
NORM = 'norms'
ACTIVATION = 'activations, softmax'
COPY = 'copies, casts, gathers'
OPTIMIZER = 'optimizer update'
OTHER = 'other (elementwise, reductions, allocation)'
#: The kinds, in the order of a table.
OP_KINDS = (GEMM, DENSE_CONV_FWD, DENSE_CONV_BWD, DW_CONV_FWD, DW_CONV_BWD, NORM, ACTIVATION,
            COPY, OPTIMIZER, OTHER)
#: What a matrix unit computes: the share of the step that low-precision GEMMs can speed up.
MATRIX_KINDS = (GEMM, DENSE_CONV_FWD, DENSE_CONV_BWD)

_GEMM_OPS = {'aten::mm', 'aten::bmm', 'aten::addmm', 'aten::baddbmm', 'aten::addbmm',
             'aten::_addmm_activation', 'mkldnn::_linear_pointwise', 'aten::mkldnn_linear'}
_COPY_OPS = {'aten::copy_', 'aten::_to_copy', 'aten::clone', 'aten::cat', 'aten::index',
             'aten::_index_put_impl_', 'aten::index_select', 'aten::gather', 'aten::scatter',
             'aten::scatter_add_', 'aten::constant_pad_nd', 'aten::roll', 'aten::flip',
             'aten::masked_select', 'aten::nonzero'}
_ACTIVATION_WORDS = ('silu', 'gelu', 'relu', 'sigmoid', 'softmax', 'hardswish', 'tanh', 'elu')


def _is_depthwise(input_shape: Sequence[int], weight_shape: Sequence[int]) -> bool:
    """A convolution with one input channel per group over more than one channel."""
    return (len(weight_shape) >= 3 and weight_shape[1] == 1 and len(input_shape) >= 2
            and input_shape[1] > 1)


def op_kind(name: str, input_shapes: Optional[Sequence[Sequence[int]]] = None) -> str:
    """The :data:`OP_KINDS` entry of one profiled op (``input_shapes`` as the profiler
    records them; they tell depthwise from dense convolutions)."""
    if name in _GEMM_OPS:
        return GEMM
    if 'conv' in name and name.startswith(('aten::', 'mkldnn::')):
        shapes = list(input_shapes or [])
        backward = 'backward' in name
        # forward ops: (input, weight, ...); convolution_backward: (grad_out, input, weight, ...)
        data, weight = (shapes[1:3] if backward else shapes[0:2]) if len(shapes) >= 3 else ([], [])
        if _is_depthwise(data, weight):
            return DW_CONV_BWD if backward else DW_CONV_FWD
        return DENSE_CONV_BWD if backward else DENSE_CONV_FWD
    if 'norm' in name:
        return NORM
    if any(word in name for word in _ACTIVATION_WORDS):
        return ACTIVATION
    if name in _COPY_OPS:
        return COPY
    return OTHER


@dataclass(frozen=True)
class StepProfile:
    """Milliseconds per step: the step unprofiled, and the ops' self time by kind."""

    step_ms: float
    profiled_step_ms: float
    kind_ms: Dict[str, float]
    steps: int

    @property
    def op_ms(self) -> float:
        return sum(self.kind_ms.values())

    def share(self, kinds: Sequence[str]) -> float:
        """Fraction of the ops' time spent in ``kinds``."""
        return sum(self.kind_ms.get(k, 0.0) for k in kinds) / self.op_ms if self.op_ms else 0.0


def matrix_bound_speedup(result: StepProfile) -> float:
    """The step's speed-up if GEMMs and dense convolutions took no time at all (Amdahl)."""
    rest = 1.0 - result.share(MATRIX_KINDS)
    return float('inf') if rest <= 0 else 1.0 / rest


def _inside_optimizer(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith('Optimizer.step#'):
            return True
        parent = parent.cpu_parent
    return False


def profile_step(step: Callable[[int], object], steps: int, warmup: int,
                 trace_path: Optional[str] = None) -> StepProfile:
    """Run ``step(i)`` ``warmup`` times, then ``steps`` times timed without the profiler
    (median), then ``steps`` times under it; optionally write a Chrome trace of the latter."""
    if steps < 1 or warmup < 0:
        raise ValueError(f'steps must be >= 1 and warmup >= 0, got {steps} and {warmup}')
    index = 0
    for _ in range(warmup):
        step(index)
        index += 1
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(index)
        times.append(time.perf_counter() - start)
        index += 1
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step(index)
            index += 1
        profiled = time.perf_counter() - start
    kind_us = {kind: 0.0 for kind in OP_KINDS}
    for event in prof.events():
        if event.name.startswith('Optimizer.step#') or _inside_optimizer(event):
            kind_us[OPTIMIZER] += event.self_cpu_time_total
        elif event.name.startswith(('aten::', 'mkldnn::')):
            kind_us[op_kind(event.name, event.input_shapes)] += event.self_cpu_time_total
        else:  # autograd engine nodes, record_function ranges: their own (Python) time
            kind_us[OTHER] += event.self_cpu_time_total
    if trace_path:
        prof.export_chrome_trace(trace_path)
    return StepProfile(step_ms=statistics.median(times) * 1e3,
                       profiled_step_ms=profiled / steps * 1e3,
                       kind_ms={k: v / steps / 1e3 for k, v in kind_us.items()}, steps=steps)


def format_profile(result: StepProfile) -> str:
    """A markdown table of the kinds (ms per step, share), largest first, and the bound."""
    lines = ['| kind of op | ms per step | share |', '|---|---|---|']
    for kind, ms in sorted(result.kind_ms.items(), key=lambda item: -item[1]):
        lines.append(f'| {kind} | {ms:.1f} | {100 * ms / result.op_ms:.1f} % |')
    bound = matrix_bound_speedup(result)
    lines += ['',
              f'train step: {result.step_ms:.1f} ms (median of {result.steps}, unprofiled); '
              f'{result.profiled_step_ms:.1f} ms under the profiler, of which ops '
              f'{result.op_ms:.1f} ms',
              f'GEMMs and dense convolutions: {100 * result.share(MATRIX_KINDS):.1f} % of the '
              f'ops\' time: were they free (a faster matrix unit, say), the step would be at '
              f'most {bound:.2f}x faster']
    return '\n'.join(lines)
