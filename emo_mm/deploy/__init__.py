"""Inference forms of emo_mm models: the deploy form (BatchNorm and LayerScale folded,
:func:`reparameterize`) and AOTInductor packages of it (:func:`export_aot`)."""
from emo_mm.models import reparameterize

from .aot import AotModel, export_aot, load_aot
from .parts import PARTS, PartOf

__all__ = ['AotModel', 'PARTS', 'PartOf', 'export_aot', 'load_aot', 'reparameterize']
