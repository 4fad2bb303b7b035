"""Low-precision inference of the deploy form on CPUs: bfloat16 and int8.

- ``bf16``: the deploy form's weights and activations in bfloat16 (:class:`Bf16Model`); float32
  in and out. oneDNN runs its convolutions and matmuls on AMX (``amx_bf16``) or AVX-512 BF16
  (``avx512_bf16``) where the CPU has them; elsewhere torch emulates bfloat16 (slower than
  float32).
- ``int8``: post-training static quantization with torch's PT2E flow and the x86 Inductor
  quantizer (:func:`quantize_int8`): per-channel symmetric int8 weights, per-tensor uint8
  activations observed on calibration images. It pays only compiled
  (:func:`compile_for_inference`), where Inductor lowers the quantize / dequantize pairs to
  oneDNN int8 kernels (AMX ``amx_int8`` or AVX-512 VNNI).

    >>> fast = compile_for_inference(Bf16Model(reparameterize(model)))
    >>> q = compile_for_inference(quantize_int8(reparameterize(model), example, calibration))
"""
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, Tuple

import torch
import torch.nn as nn
from torch.utils._pytree import tree_map

#: Precisions the inference paths accept.
PRECISIONS: Tuple[str, ...] = ('fp32', 'bf16', 'int8')

#: CPU flags (``/proc/cpuinfo``) that make each low precision fast.
FAST_FLAGS: Dict[str, Tuple[str, ...]] = {
    'bf16': ('amx_bf16', 'avx512_bf16'),
    'int8': ('amx_int8', 'avx512_vnni', 'avx_vnni'),
}


class UnsupportedPrecisionError(RuntimeError):
    """A precision this machine or runtime cannot run."""


def cpu_flags() -> Tuple[str, ...]:
    """The CPU feature flags of this machine (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path('/proc/cpuinfo').read_text()
    except OSError:
        return ()
    line = next((ln for ln in text.splitlines() if ln.startswith('flags')), '')
    return tuple(line.split(':', 1)[1].split()) if ':' in line else ()


def matrix_units() -> Dict[str, bool]:
    """Which of the low-precision CPU instructions this machine has, by flag."""
    flags = set(cpu_flags())
    names = sorted({f for group in FAST_FLAGS.values() for f in group})
    return {name: name in flags for name in names}


def check_precision(precision: str) -> None:
    """Raise :class:`UnsupportedPrecisionError` for an unknown precision; warn when this CPU
    has no instructions that make it fast (it then runs, slower than float32)."""
    if precision not in PRECISIONS:
        raise UnsupportedPrecisionError(
            f'unknown precision {precision!r}; choose one of {", ".join(PRECISIONS)}')
    if precision == 'fp32':
        return
    flags = set(cpu_flags())
    wanted = FAST_FLAGS[precision]
    if flags and not flags & set(wanted):
        warnings.warn(f'this CPU has none of {", ".join(wanted)}: {precision} inference runs '
                      'emulated, slower than float32', stacklevel=2)
    if precision == 'int8' and 'x86' not in torch.backends.quantized.supported_engines:
        raise UnsupportedPrecisionError(
            "int8 needs torch's x86 quantized engine, which this build of torch lacks "
            f'(it has {torch.backends.quantized.supported_engines})')


def _to_float(out: Any) -> Any:
    return tree_map(lambda t: t.float() if isinstance(t, torch.Tensor) and t.is_floating_point()
                    else t, out)


class Bf16Model(nn.Module):
    """``module`` with bfloat16 weights, called with float32 inputs like the original and
    returning float32 outputs. Casts ``module`` in place (buffers and parameters)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.to(torch.bfloat16).eval()

    def forward(self, x: torch.Tensor) -> Any:
        return _to_float(self.module(x.to(torch.bfloat16)))


def quantize_int8(module: nn.Module, example: torch.Tensor,
                  calibration: Iterable[torch.Tensor]) -> nn.Module:
    """PT2E static int8 quantization of an eval-mode ``module`` called as ``module(x)``.

    Exports it for inputs of the example's shape (the graph checks it: EMOv2's window count
    is part of it), inserts observers (x86 Inductor
    quantizer, its default config), runs ``calibration`` (float32 batches, e.g. a few hundred
    normalised training images), and returns the quantized graph module. In eager it
    simulates int8 with float32 quantize / dequantize pairs (the same numbers as the int8
    kernels, slower); run it through :func:`compile_for_inference` for int8 kernels."""
    check_precision('int8')
    try:
        from torchao.quantization.pt2e import allow_exported_model_train_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86q
    except ImportError as exc:
        raise UnsupportedPrecisionError(
            "int8 quantization needs torchao: pip install 'emo_mm[deploy]' "
            '(tools/install.sh installs it)') from exc
    module.eval()
    quantizer = x86q.X86InductorQuantizer()
    quantizer.set_global(x86q.get_default_x86_inductor_quantization_config())
    with torch.no_grad():
        graph = torch.export.export(module, (example, )).module()
        prepared = prepare_pt2e(graph, quantizer)
        seen = 0
        for batch in calibration:
            if batch.shape != example.shape:
                raise ValueError(f'calibration batch of shape {tuple(batch.shape)} does not fit '
                                 f'the example {tuple(example.shape)}')
            prepared(batch)
            seen += 1
        if not seen:
            raise ValueError('int8 calibration needs at least one batch')
        quantized = convert_pt2e(prepared)
    # .eval() / .train() as on any module (exported graphs refuse them otherwise).
    return allow_exported_model_train_eval(quantized)


def compile_for_inference(module: nn.Module, dynamic: bool = False) -> nn.Module:
    """``torch.compile(fullgraph=True)`` for inference: Inductor with frozen weights
    (constant-folded and pre-packed for oneDNN), fixed shapes unless ``dynamic``. The first
    call compiles."""
    import torch._inductor.config as inductor_config
    inductor_config.freezing = True
    torch._dynamo.reset()   # a fresh graph per model, not the previous model's cache entry
    return torch.compile(module, fullgraph=True, dynamic=dynamic)
