"""Inference forms of emo_mm models: the deploy form (BatchNorm and LayerScale folded,
:func:`reparameterize`), AOTInductor packages of it (:func:`export_aot`) and ONNX files with
dynamic input sizes (:func:`export_onnx`, run by :class:`OnnxModel` in ONNX Runtime); a
one-stage detector's whole prediction, NMS included, as one graph (:class:`DetectionsOf`);
bfloat16 and int8 inference (:class:`Bf16Model`, :func:`quantize_int8`, :func:`quantize_onnx_int8`)."""
from emo_mm.models import reparameterize

from .aot import AotModel, export_aot, load_aot
from .detections import DetectionsOf, is_one_stage_detector, match_detections
from .onnx import FixedSizeError, OnnxModel, export_onnx, quantize_onnx_int8
from .parts import PARTS, PartOf, PredictionsOf
from .precision import (PRECISIONS, Bf16Model, UnsupportedPrecisionError, check_precision,
                        compile_for_inference, matrix_units, quantize_int8)

__all__ = ['AotModel', 'Bf16Model', 'DetectionsOf', 'FixedSizeError', 'OnnxModel', 'PARTS',
           'PRECISIONS', 'PartOf', 'PredictionsOf', 'UnsupportedPrecisionError', 'check_precision',
           'compile_for_inference', 'export_aot', 'export_onnx', 'is_one_stage_detector',
           'load_aot', 'match_detections', 'matrix_units', 'quantize_int8', 'quantize_onnx_int8',
           'reparameterize']
