"""ONNX export of the deploy form with dynamic batch, height and width, and an ONNX Runtime
session that runs the file.

``torch.export`` traces the model with symbolic sizes (:func:`capture_dynamic`) and torch's
current ONNX exporter (``torch.onnx.export(..., dynamo=True)``) translates the program.
EMOv2's window attention plans its windows per input size in Python; during the export it
computes the official form with tensor operations only
(:attr:`~emo_mm.models.attention.WindowAttention.any_shape`), the same function, so the graph
stays valid for every size, including sizes that do not divide into windows.

    >>> export_onnx(model, torch.randn(1, 3, 224, 224), 'work_dirs/emov2_5m.onnx')
    >>> session = OnnxModel('work_dirs/emov2_5m.onnx')
    >>> outputs = session(images)            # numpy arrays, any N x 3 x H x W float32 input
"""
import contextlib
import os
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._sympy.numbers import int_oo

try:  # the optional `deploy` extra (tools/install.sh installs it)
    import onnx
    import onnxruntime as ort
except ImportError:  # pragma: no cover - reported when used
    onnx = ort = None

from emo_mm.models import reparameterize
from emo_mm.models.attention import WindowAttention

from .detections import ONNX_TRANSLATIONS

#: Metadata key of the input layout every emo_mm ONNX file records.
INPUT_KEY = 'emo_mm.input'


def _require_onnx() -> None:
    if onnx is None or ort is None:
        raise ImportError('ONNX export needs onnx, onnxruntime and onnxscript: '
                          "pip install 'emo_mm[deploy]' (tools/install.sh installs them)")


@contextlib.contextmanager
def any_shape_attention(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, every window attention of ``model`` computes its shape-free form."""
    attentions = [m for m in model.modules() if isinstance(m, WindowAttention)]
    before = [m.any_shape for m in attentions]
    for module in attentions:
        module.any_shape = True
    try:
        yield model
    finally:
        for module, flag in zip(attentions, before):
            module.any_shape = flag


def export_onnx(model: nn.Module, example: torch.Tensor, path: Union[str, Path],
                output_names: Optional[Sequence[str]] = None, dynamic: bool = True,
                fold: bool = True, metadata: Optional[Dict[str, str]] = None) -> Path:
    """Export ``model`` (inference only, called as ``model(x)``) to an ONNX file at ``path``.

    Args:
        model: an EMOv2 backbone or a model holding one.
        example: a float32 CPU input ``(N, 3, H, W)``; with ``dynamic`` only its rank and
            channels are fixed in the graph.
        path: the ``.onnx`` file; written under a temporary name and renamed at the end, so a
            failed export leaves an existing file untouched.
        output_names: names of the graph outputs (default ``output0, output1, ...``).
        dynamic: batch, height and width symbolic (default); False fixes the example's shape.
        fold: reparameterise first (in place); False for a model without EMOv2 blocks.
        metadata: string entries stored in the file's ``metadata_props``.
    """
    _require_onnx()
    if example.dtype != torch.float32 or example.device.type != 'cpu' or example.dim() != 4:
        raise ValueError(f'export_onnx takes a float32 CPU input N x C x H x W, got {example.dtype} '
                         f'{tuple(example.shape)} on {example.device}')
    if fold:
        reparameterize(model)
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f'.{path.stem}.partial-{os.getpid()}.onnx')
    try:
        with torch.no_grad(), any_shape_attention(model):
            if dynamic:
                exported, min_size = capture_dynamic(model, example)
            else:
                exported = torch.export.export(model, (example, ), strict=False)
            program = torch.onnx.export(exported, dynamo=True, input_names=['image'],
                                        output_names=list(output_names) if output_names else None,
                                        optimize=True, verbose=False,
                                        custom_translation_table=ONNX_TRANSLATIONS)
        proto = program.model_proto
        layout = (f'float32 N x 3 x H x W, H >= {min_size[0]}, W >= {min_size[1]}' if dynamic
                  else 'float32 ' + ' x '.join(str(s) for s in example.shape))
        entries = {**(metadata or {}), INPUT_KEY: layout}
        for key, value in entries.items():
            proto.metadata_props.add(key=key, value=str(value))
        onnx.save(proto, str(partial))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


class FixedSizeError(ValueError):
    """A dynamic export whose graph holds only some batch sizes, heights or widths."""


def capture_dynamic(model: nn.Module, example: torch.Tensor,
                    attempts: int = 3) -> Tuple[torch.export.ExportedProgram, Tuple[int, int]]:
    """``torch.export`` of ``model`` with symbolic batch, height and width, and the smallest
    height and width the graph holds.

    torch.export is called directly: ``torch.onnx.export`` captures under
    ``backed_size_oblivious``, whose reasoning over the backbone's window arithmetic takes
    minutes instead of seconds. The example is traced as a batch of 2 (a batch of 1 would be
    specialised). A feature map of one pixel at the example's size (the deep levels of SSD)
    ties the graph to a band of sizes: then the example is traced again at twice the size,
    up to ``attempts`` times, and :class:`FixedSizeError` says what no example freed.
    """
    auto = torch.export.Dim.AUTO
    traced = example.expand(2, -1, -1, -1) if len(example) == 1 else example
    for attempt in range(attempts):
        exported = torch.export.export(model, (traced, ), strict=False,
                                       dynamic_shapes=({0: auto, 2: auto, 3: auto}, ))
        (image, ) = [node.meta['val'] for node in exported.graph.nodes if node.op == 'placeholder'
                     and node.name in exported.graph_signature.user_inputs]
        ranges = {}
        for axis, name in ((0, 'batch'), (2, 'height'), (3, 'width')):
            size = image.shape[axis]
            if not isinstance(size, torch.SymInt):
                ranges[name] = (int(size), int(size))
            else:
                bounds = exported.range_constraints[size.node.expr]
                upper = None if bounds.upper == int_oo else int(bounds.upper)
                ranges[name] = (int(bounds.lower), upper)
        fixed = {name: r for name, r in ranges.items() if r[1] is not None}
        if not fixed:
            return exported, (ranges['height'][0], ranges['width'][0])
        if 'batch' in fixed or attempt + 1 == attempts:
            break
        traced = F.interpolate(traced, scale_factor=2.0, mode='nearest')
    bands = ', '.join(f'{name} {lo}..{hi}' for name, (lo, hi) in fixed.items())
    raise FixedSizeError(f'the graph traced at {tuple(traced.shape)} holds only {bands}: a size '
                         'or a feature map of one pixel is fixed in it; export with a larger '
                         'example or a fixed shape (dynamic=False)')


class OnnxModel:
    """An ONNX file in an ONNX Runtime CPU session, called with a float32 ``N x 3 x H x W``
    array or tensor; returns the outputs as a list of numpy arrays."""

    def __init__(self, path: Union[str, Path], threads: Optional[int] = None) -> None:
        _require_onnx()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f'no ONNX file at {self.path}')
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(self.path), options,
                                            providers=['CPUExecutionProvider'])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names: List[str] = [o.name for o in self.session.get_outputs()]
        self.metadata: Dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        #: The input the graph takes, as the export recorded it (sizes it holds).
        self.input_layout: str = self.metadata.get(INPUT_KEY, '')

    def __call__(self, images: Union[np.ndarray, torch.Tensor]) -> List[np.ndarray]:
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        images = np.ascontiguousarray(images, dtype=np.float32)
        return self.session.run(None, {self.input_name: images})


def quantize_onnx_int8(path: Union[str, Path], out_path: Union[str, Path],
                       calibration: Iterable[Union[np.ndarray, torch.Tensor]]) -> Path:
    """ONNX Runtime static int8 quantization of an emo_mm ONNX file's convolutions and matmuls:
    QDQ format, per-channel symmetric int8 weights in 7 bits (``reduce_range``: on CPUs without
    VNNI, ONNX Runtime's uint8 x int8 products saturate with full 8-bit weights; measured on an
    AVX2-only CPU, the test model's relative error was 0.116 with 8 bits, within 0.08 with 7), uint8
    activations with ranges observed (min / max) on ``calibration`` (float32 batches the file
    accepts, e.g. normalised training images).
    Writes ``out_path`` atomically and keeps the source's metadata."""
    _require_onnx()
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    batches = [np.ascontiguousarray(b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else b,
                                    dtype=np.float32) for b in calibration]
    if not batches:
        raise ValueError('int8 calibration needs at least one batch')
    source = onnx.load(str(path))
    input_name = source.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self) -> Optional[Dict[str, np.ndarray]]:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    prepared = out_path.with_name(f'.{out_path.stem}.prep-{os.getpid()}.onnx')
    partial = out_path.with_name(f'.{out_path.stem}.partial-{os.getpid()}.onnx')
    try:
        quant_pre_process(str(path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(partial), Reader(), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=['Conv', 'MatMul', 'Gemm'], per_channel=True,
                        reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        # weights only: attention's q @ k^T and attn @ v stay float32
                        extra_options={'MatMulConstBOnly': True})
        quantized = onnx.load(str(partial))
        del quantized.metadata_props[:]
        for prop in source.metadata_props:
            quantized.metadata_props.add(key=prop.key, value=prop.value)
        quantized.metadata_props.add(key='emo_mm.precision', value='int8')
        onnx.save(quantized, str(partial))
        os.replace(partial, out_path)
    finally:
        prepared.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return out_path
