"""Inference forms of emo_mm models: the deploy form (BatchNorm and LayerScale folded,
:func:`reparameterize`), AOTInductor packages of it (:func:`export_aot`) and ONNX files with
dynamic input sizes (:func:`export_onnx`, run by :class:`OnnxModel` in ONNX Runtime)."""
from emo_mm.models import reparameterize

from .aot import AotModel, export_aot, load_aot
from .onnx import OnnxModel, export_onnx
from .parts import PARTS, PartOf, PredictionsOf

__all__ = ['AotModel', 'OnnxModel', 'PARTS', 'PartOf', 'PredictionsOf', 'export_aot', 'export_onnx', 'load_aot',
           'reparameterize']
