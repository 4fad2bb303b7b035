"""Datasets that write their own data under ``data_root`` on first use (the demos' shapes)."""
from pathlib import Path
from typing import ClassVar, Dict, Optional

from mmengine.dist import barrier, get_rank, is_distributed

from .shapes import ensure_shapes


def prepare_shapes(data_root: str, generator: Optional[dict] = None) -> Path:
    """Make sure the shapes dataset under ``data_root`` exists with the ``generator``
    arguments (see :func:`emo_mm.datasets.ensure_shapes`), generating it if needed; once
    per job (rank 0 writes, the others wait)."""
    if get_rank() == 0:
        ensure_shapes(data_root, **(generator or {}))
    if is_distributed():
        barrier()
    return Path(data_root)


class SelfGeneratingDataset:
    """Mixin (first base) of a dataset class over the shapes data: generates the data under
    ``data_root`` before the codebase's dataset reads it. The tools know such datasets by
    name (:func:`is_self_generating`) and do not ask for their folder to exist.

    Args:
        data_root: where the data lives (generated there when missing).
        generator: arguments of :func:`emo_mm.datasets.ensure_shapes` (``num_train``,
            ``num_val``, ``img_size``, ``seed``); the data under ``data_root`` is
            (re)generated when it is missing or was made with other arguments.
    """

    #: Class name -> class of every self-generating dataset defined so far.
    classes: ClassVar[Dict[str, type]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        SelfGeneratingDataset.classes[cls.__name__] = cls

    def __init__(self, *args, data_root: str = 'data/shapes', generator: Optional[dict] = None,
                 **kwargs) -> None:
        prepare_shapes(data_root, generator)
        super().__init__(*args, data_root=data_root, **kwargs)


def is_self_generating(dataset_type: str) -> bool:
    """Whether the dataset class named ``dataset_type`` (no scope prefix) makes its own data."""
    return dataset_type in SelfGeneratingDataset.classes
