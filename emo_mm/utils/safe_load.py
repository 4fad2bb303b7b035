"""Let torch's safe (``weights_only=True``) unpickler read mmengine checkpoints.

torch >= 2.6 loads with ``weights_only=True`` by default. mmengine 0.10.x checkpoints
hold, besides tensors, numpy arrays/scalars (``meta``) and ``HistoryBuffer`` objects
(the message hub), whose pickled state refers to its statistics methods through
``getattr(HistoryBuffer, 'min')``. We allow exactly those types, and map the pickle's
``builtins.getattr`` to a function that only resolves HistoryBuffer's statistics
methods; any other use still fails. Nothing else becomes loadable.
"""
import functools
from typing import Any

import numpy as np
import torch

_HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})


def _numpy_globals() -> list:
    core = getattr(np, '_core', None) or np.core
    allowed = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        allowed += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return allowed


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``getattr`` during safe unpickling: HistoryBuffer statistics only."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise RuntimeError(f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint')


@functools.lru_cache(maxsize=None)
def allow_mmengine_checkpoints() -> None:
    """Register the safe globals (idempotent; called when emo_mm is imported)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 loads everything anyway
        return
    from mmengine.logging import HistoryBuffer
    add(_numpy_globals() + [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')])


class CheckpointReadError(RuntimeError):
    """A checkpoint file that cannot be read safely (corrupt, not PyTorch, unsafe pickle)."""


def safe_torch_load(path: str) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU with a clear error for files that
    are corrupt or need arbitrary code to unpickle."""
    allow_mmengine_checkpoints()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise CheckpointReadError(
            f"cannot read checkpoint '{path}': {type(err).__name__}: {str(err).splitlines()[0]}. "
            'The file is corrupt, not a PyTorch checkpoint, or holds objects that are not '
            'safe to unpickle (emo_mm never loads those).') from err
