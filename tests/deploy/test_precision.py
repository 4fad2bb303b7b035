"""bf16 and int8 inference of the deploy form (``emo_mm.deploy.precision``, ONNX Runtime int8):
each computes the float32 deploy form's function within its stated tolerance, eager and
compiled alike, and a bad precision is a clear error.

Tolerances, relative to the largest float32 output: bf16 3e-2 (8-bit mantissa through ~20
layers), int8 8e-2 (uint8 activations, int8 weights). Compiled and eager forms of the same
precision agree far closer (1e-2 for int8: the same quantization, other kernels)."""
import copy

import numpy as np
import pytest
import torch
from reference import randomize_

from emo_mm.deploy import (Bf16Model, OnnxModel, UnsupportedPrecisionError, check_precision,
                           compile_for_inference, export_onnx, quantize_int8, quantize_onnx_int8,
                           reparameterize)
from emo_mm.engine import InferencePrecisionHook
from emo_mm.engine.precision_hook import Int8PerShape
from emo_mm.models import EMOv2

TINY = dict(depths=(1, 1, 2, 1), embed_dims=(16, 24, 40, 64), exp_ratios=(2.0, 2.0, 2.0, 2.0),
            head_dims=(8, 8, 8, 16))
BF16_TOL, INT8_TOL = 3e-2, 8e-2


@pytest.fixture(scope='module')
def folded():
    torch.manual_seed(0)
    model = randomize_(EMOv2(TINY, window_size=4, out_indices=(2, 4), final_norm=True))
    return reparameterize(model).eval()


def relative_error(outputs, expected) -> float:
    scale = max(ref.abs().max().item() for ref in expected)
    assert scale > 0.1
    return max((out.float() - ref).abs().max().item() for out, ref in zip(outputs, expected)) / scale


def test_bf16_model_is_float32_in_and_out_and_close_to_float32(folded):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = folded(x)
        model = Bf16Model(copy.deepcopy(folded))
        outputs = model(x)
        compiled = compile_for_inference(model)(x)
    assert next(model.parameters()).dtype == torch.bfloat16
    assert all(out.dtype == torch.float32 and out.shape == ref.shape
               for out, ref in zip(outputs, expected))
    assert 0 < relative_error(outputs, expected) <= BF16_TOL
    assert relative_error(compiled, expected) <= BF16_TOL


def test_int8_quantization_compiles_and_stays_close_to_float32(folded):
    example = torch.randn(1, 3, 64, 64)
    calibration = [torch.randn(1, 3, 64, 64) for _ in range(4)]
    quantized = quantize_int8(copy.deepcopy(folded), example, calibration)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = folded(x)
        simulated = quantized(x)
        compiled = compile_for_inference(quantized)(x)
    assert 0 < relative_error(simulated, expected) <= INT8_TOL
    assert relative_error(compiled, simulated) <= 1e-2
    quantized.eval()   # an exported graph that still behaves like a module
    convs = [n for n in quantized.graph.nodes if n.target is torch.ops.aten.conv2d.default]
    weights = [str(conv.args[1].target) for conv in convs]
    assert len(convs) >= 5 and all('dequantize_per_channel' in w for w in weights), weights


def test_int8_per_shape_quantizes_once_per_size_and_rebatches(folded):
    calibration = [torch.randn(1, 3, 64, 64), torch.randn(1, 3, 61, 97)]
    model = Int8PerShape(folded, calibration)
    for shape in [(2, 3, 64, 64), (1, 3, 50, 70), (3, 3, 64, 64)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            outputs, expected = model(x), folded(x)
        assert [o.shape for o in outputs] == [e.shape for e in expected]
        assert relative_error(outputs, expected) <= INT8_TOL
    assert sorted(model.graphs) == [(1, 3, 50, 70), (1, 3, 64, 64)]


def test_int8_calibration_must_fit_the_example(folded):
    with pytest.raises(ValueError, match='does not fit'):
        quantize_int8(copy.deepcopy(folded), torch.randn(1, 3, 64, 64), [torch.randn(2, 3, 64, 64)])
    with pytest.raises(ValueError, match='at least one batch'):
        quantize_int8(copy.deepcopy(folded), torch.randn(1, 3, 64, 64), [])


def test_onnx_runtime_int8_is_close_to_float32_and_keeps_metadata(folded, tmp_path):
    example = torch.randn(1, 3, 64, 64)
    source = export_onnx(copy.deepcopy(folded), example, tmp_path / 'fp32.onnx', fold=False,
                         metadata={'emo_mm.note': 'kept'})
    target = quantize_onnx_int8(source, tmp_path / 'int8.onnx',
                                [torch.randn(1, 3, 64, 64) for _ in range(4)])
    session = OnnxModel(target)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = folded(x)
    outputs = [torch.from_numpy(np.asarray(out)) for out in session(x)]
    assert 0 < relative_error(outputs, expected) <= INT8_TOL
    assert session.metadata['emo_mm.note'] == 'kept'
    assert session.metadata['emo_mm.precision'] == 'int8'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['fp32.onnx', 'int8.onnx']


def test_bad_precisions_are_clear_errors():
    with pytest.raises(UnsupportedPrecisionError, match='unknown precision'):
        check_precision('fp8')
    with pytest.raises(ValueError, match='float32 needs no hook'):
        InferencePrecisionHook('fp32')
    with pytest.raises(ValueError, match='calib_images'):
        InferencePrecisionHook('int8', calib_images=0)
