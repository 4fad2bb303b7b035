"""Inference forms of emo_mm models: the deploy form (BatchNorm and LayerScale folded,
:func:`reparameterize`), AOTInductor packages of it (:func:`export_aot`) and ONNX files with
dynamic input sizes (:func:`export_onnx`, run by :class:`OnnxModel` in ONNX Runtime); a
one-stage detector's whole prediction, NMS included, as one graph (:class:`DetectionsOf`)."""
from emo_mm.models import reparameterize

from .aot import AotModel, export_aot, load_aot
from .detections import DetectionsOf, is_one_stage_detector, match_detections
from .onnx import OnnxModel, export_onnx
from .parts import PARTS, PartOf, PredictionsOf

__all__ = ['AotModel', 'DetectionsOf', 'OnnxModel', 'PARTS', 'PartOf', 'PredictionsOf', 'export_aot',
           'export_onnx', 'is_one_stage_detector', 'load_aot', 'match_detections', 'reparameterize']
