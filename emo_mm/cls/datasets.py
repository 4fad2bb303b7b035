"""Single-object crops of the shapes dataset for mmpretrain, generated on first use."""
from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

from emo_mm.datasets import SHAPES_CLASSES, SelfGeneratingDataset


@DATASETS.register_module()
class ShapesClsDataset(SelfGeneratingDataset, CustomDataset):
    """:class:`CustomDataset` over the 64x64 crops of ``emo_mm``'s synthetic shapes;
    ``data_root`` and ``generator`` as in :class:`~emo_mm.datasets.SelfGeneratingDataset`.

    Use the annotation files ``annotations/crops_{train,val}.txt`` (labels = index in
    :data:`SHAPES_CLASSES`) with ``data_prefix='{train,val}/crops'``.
    """

    METAINFO = dict(classes=SHAPES_CLASSES)
