"""Generate the shapes dataset on first use, once per job (rank 0 writes, the others wait)."""
from pathlib import Path
from typing import Optional

from mmengine.dist import barrier, get_rank, is_distributed


def prepare_shapes(data_root: str, generator: Optional[dict] = None) -> Path:
    """Make sure the shapes dataset under ``data_root`` exists with the ``generator``
    arguments (see :func:`emo_mm.datasets.ensure_shapes`), generating it if needed."""
    from .shapes import ensure_shapes
    if get_rank() == 0:
        ensure_shapes(data_root, **(generator or {}))
    if is_distributed():
        barrier()
    return Path(data_root)
