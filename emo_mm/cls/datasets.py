"""Single-object crops of the shapes dataset for mmpretrain, generated on first use."""
from typing import Optional

from mmpretrain.datasets import CustomDataset
from mmpretrain.registry import DATASETS

from emo_mm.datasets.prepare import prepare_shapes
from emo_mm.datasets.shapes import SHAPES_CLASSES


@DATASETS.register_module()
class ShapesClsDataset(CustomDataset):
    """:class:`CustomDataset` over the 64x64 crops of ``emo_mm``'s synthetic shapes.

    Use the annotation files ``annotations/crops_{train,val}.txt`` (labels = index in
    :data:`SHAPES_CLASSES`) with ``data_prefix='{train,val}/crops'``.

    Args:
        generator: arguments of :func:`emo_mm.datasets.ensure_shapes` (``num_train``,
            ``num_val``, ``img_size``, ``seed``); the data under ``data_root`` is
            (re)generated when it is missing or was made with other arguments.
    """

    METAINFO = dict(classes=SHAPES_CLASSES)

    def __init__(self, *args, data_root: str = 'data/shapes', generator: Optional[dict] = None,
                 **kwargs) -> None:
        prepare_shapes(data_root, generator)
        super().__init__(*args, data_root=data_root, **kwargs)
