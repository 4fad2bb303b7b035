"""Every way emo_mm reads a checkpoint: safely, in any of the layouts users have, and strictly.

* **Safe reading.** torch >= 2.6 loads with ``weights_only=True``. mmengine 0.10.x checkpoints
  hold, besides tensors, numpy arrays / scalars (``meta``) and ``HistoryBuffer`` objects (the
  message hub), whose pickled state refers to its statistics methods through
  ``getattr(HistoryBuffer, 'min')``. Exactly those types are allowed, and the pickle's
  ``builtins.getattr`` resolves only HistoryBuffer's statistics methods; nothing else becomes
  loadable (:func:`safe_torch_load`).
* **Layouts.** Official files are flat state dicts (``EMOv2_5M_224.pth``) or trainer
  checkpoints ``{'net': ..., 'net_E': ...}``, mmengine files wrap theirs in ``state_dict``, and
  DDP adds ``module.`` prefixes. The backbone uses the official parameter names, so conversion
  is unwrapping, prefix handling and re-homing the classifier's ``norm.*`` / ``head.*``
  (:func:`read_checkpoint`, :func:`convert_official`).
* **Strictness.** Missing, unexpected or wrongly shaped keys raise
  :class:`CheckpointMismatchError` naming them (:func:`check_state_dict`); a model may explain
  a mismatch through an ``explain_checkpoint_mismatch(state_dict)`` method (EMOv2 names the
  arch the checkpoint fits).
"""
import functools
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

StateDict = Dict[str, torch.Tensor]

#: Keys that hold the state dict inside wrapped checkpoints, tried in this order.
_WRAPPER_KEYS = ('state_dict', 'net', 'model')
_HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model; the message lists every offending key."""


class CheckpointReadError(RuntimeError):
    """A checkpoint file that cannot be read safely (corrupt, not PyTorch, unsafe pickle)."""


def _describe(keys: List[str], limit: int = 12) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


# --------------------------------------------------------------------------- safe reading
def _numpy_globals() -> list:
    core = getattr(np, '_core', None) or np.core
    allowed = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        allowed += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return allowed


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``getattr`` during safe unpickling: HistoryBuffer statistics only."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise RuntimeError(f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint')


@functools.lru_cache(maxsize=None)
def allow_mmengine_checkpoints() -> None:
    """Register the safe globals (idempotent; called when emo_mm is imported)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4 loads everything anyway
        return
    add(_numpy_globals() + [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr')])


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


def is_local_path(path: str, backend_args: Optional[dict] = None) -> bool:
    """``path`` is on the local file system (not ``s3://``, ``http://``, a petrel backend...)."""
    backend = (backend_args or {}).get('backend')
    return '://' not in str(path) and backend in (None, 'local')


def read_training_checkpoint(filename: str, map_location: object = 'cpu') -> dict:
    """Read a whole training checkpoint (state dict, optimizer, meta, message hub): local
    files through :func:`safe_torch_load`, remote ones through mmengine's file backends."""
    if is_local_path(filename):
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint not found: {filename}')
        checkpoint = safe_torch_load(filename)
    else:
        checkpoint = _load_checkpoint(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f"checkpoint '{filename}' holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint


# --------------------------------------------------------------------------------- layouts
def strip_module_prefix(state_dict: StateDict) -> StateDict:
    """Remove DDP's ``module.`` prefix from the keys that carry it."""
    return OrderedDict((re.sub(r'^module\.', '', key), value) for key, value in state_dict.items())


def read_checkpoint(path: str, ema: bool = False) -> StateDict:
    """Read a state dict from ``path`` without unpickling arbitrary objects.

    Unwraps mmengine (``state_dict``), official trainer (``net`` / ``net_E`` when ``ema``)
    and timm-style (``model``) checkpoints, and strips DDP ``module.`` prefixes.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"checkpoint '{path}' does not exist. Put the official EMOv2 release file there "
            "(e.g. checkpoints/EMOv2_5M_224.pth), point the config at it with "
            "--cfg-options model.backbone.init_cfg.checkpoint=PATH, or train from scratch with "
            "--cfg-options model.backbone.init_cfg=None")
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict):
        raise CheckpointMismatchError(f"'{path}' holds a {type(ckpt).__name__}, not a state dict")
    if ema:
        if 'net_E' not in ckpt:
            raise CheckpointMismatchError(f"ema=True but '{path}' has no 'net_E' (EMA) weights")
        ckpt = ckpt['net_E']
    else:
        for key in _WRAPPER_KEYS:
            if key in ckpt and isinstance(ckpt[key], dict):
                ckpt = ckpt[key]
                break
    non_tensors = [k for k, v in ckpt.items() if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise CheckpointMismatchError(
            f"'{path}' is not a state dict of tensors (non-tensor entries: {_describe(non_tensors)})")
    if ckpt and all(k.startswith('module.') for k in ckpt):
        ckpt = strip_module_prefix(ckpt)
    return ckpt


def strip_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """Keep the keys under ``prefix`` and remove it; error if there are none."""
    picked = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    if not picked:
        raise CheckpointMismatchError(f"no key starts with prefix '{prefix}'; first keys: "
                                      f'{_describe(list(state_dict), 5)}')
    return picked


def strip_backbone_prefix(state_dict: StateDict) -> StateDict:
    """Drop a leading ``backbone.`` (emo_mm classifier/detector checkpoints), if all
    backbone keys carry it; otherwise return ``state_dict`` unchanged."""
    if is_official_layout(state_dict) or not any(k.startswith('backbone.') for k in state_dict):
        return state_dict
    return OrderedDict((k[len('backbone.'):], v) for k, v in state_dict.items()
                       if k.startswith('backbone.'))


def is_official_layout(state_dict: StateDict) -> bool:
    """True for the classification layout of the official code (``stage0.*`` at top level)."""
    return any(k.startswith('stage0.') for k in state_dict)


def convert_official(state_dict: StateDict, target: str = 'backbone',
                     final_norm: bool = False) -> StateDict:
    """Official classifier state dict -> the keys of an emo_mm ``target``:

    * ``'backbone'``: :class:`~emo_mm.models.EMOv2` keys; ``head.*`` dropped, and ``norm.*``
      too unless the backbone owns the final norm (``final_norm``);
    * ``'classifier'``: mmpretrain ``ImageClassifier`` keys (``backbone.*`` with the final
      norm, ``head.fc.*``).
    """
    if target == 'backbone':
        drop = ('head.', ) if final_norm else ('head.', 'norm.')
        return OrderedDict((k, v) for k, v in state_dict.items() if not k.startswith(drop))
    if target == 'classifier':
        return OrderedDict(('head.fc.' + k[len('head.'):] if k.startswith('head.') else 'backbone.' + k, v)
                           for k, v in state_dict.items())
    raise ValueError(f"convert_official target must be 'backbone' or 'classifier', got {target!r}")


# ------------------------------------------------------------------------------ strictness
def check_state_dict(model: nn.Module, state_dict: StateDict, source: str = 'checkpoint') -> None:
    """Raise :class:`CheckpointMismatchError` unless keys and shapes match ``model`` exactly."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [f'{k} (checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)})'
                   for k, v in own.items() if k in state_dict and state_dict[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f'missing keys: {_describe(missing)}')
    if unexpected:
        problems.append(f'unexpected keys: {_describe(unexpected)}')
    if wrong_shape:
        problems.append(f'wrong shapes: {_describe(wrong_shape)}')
    if not problems:
        return
    if missing or wrong_shape:
        problems += _explanations(model, state_dict)
    arch = getattr(model, 'arch_name', None)
    raise CheckpointMismatchError(f"{source} does not match {type(model).__name__}"
                                  f"{f' ({arch})' if arch else ''}: " + '; '.join(problems))


def _explanations(model: nn.Module, state_dict: StateDict) -> List[str]:
    """What the model's parts say about a checkpoint that does not fit them."""
    found = []
    for module in model.modules():
        explain = getattr(module, 'explain_checkpoint_mismatch', None)
        text = explain(state_dict) if callable(explain) else None
        if text and text not in found:
            found.append(text)
    return found


def check_checkpoint_fits(model: nn.Module, checkpoint: dict, filename: str, strict: bool,
                          revise_keys: list) -> None:
    """Raise :class:`CheckpointMismatchError` when a training checkpoint (mmengine's
    ``load_checkpoint`` input, after its ``revise_keys``) does not fit ``model``: any missing,
    unexpected or mis-shaped key when ``strict``, else when it shares no parameter of the right
    shape with the model at all (a fine-tuning ``load_from`` may differ in its heads, not in
    everything). Official EMOv2 classification layouts are left to the model's own load hooks.
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    for pattern, replacement in revise_keys:
        state_dict = {re.sub(pattern, replacement, key): value for key, value in state_dict.items()}
    tensors = {k: v for k, v in state_dict.items() if isinstance(v, torch.Tensor)}
    if is_official_layout(tensors):
        return
    source = f"checkpoint '{filename}'"
    if strict:
        check_state_dict(model, tensors, source=source)
        return
    own = model.state_dict()
    if not any(k in own and own[k].shape == v.shape for k, v in tensors.items()):
        raise CheckpointMismatchError(
            f'{source} shares no parameter with {type(model).__name__}: it is the checkpoint '
            f'of another model (first keys: {", ".join(list(tensors)[:3])})')


def load_pretrained(backbone: nn.Module, path: str, prefix: Optional[str] = None,
                    ema: bool = False) -> None:
    """Strictly load an official or emo_mm checkpoint into an EMOv2 backbone.

    ``prefix`` selects a sub-module of a bigger checkpoint (e.g. ``'backbone.'`` of a
    detector); an emo_mm classifier checkpoint (``backbone.*``) is recognised by itself.
    """
    state_dict = read_checkpoint(path, ema=ema)
    state_dict = strip_prefix(state_dict, prefix) if prefix else strip_backbone_prefix(state_dict)
    state_dict = convert_official(state_dict, 'backbone',
                                  final_norm=getattr(backbone, 'final_norm', False))
    check_state_dict(backbone, state_dict, source=f"checkpoint '{path}'")
    backbone.load_state_dict(state_dict, strict=True)


def load_model(model: nn.Module, path: str, ema: bool = False) -> None:
    """Strictly load a whole-model checkpoint: an emo_mm/mmengine checkpoint of ``model``
    (detector, segmentor or classifier), or an official classification checkpoint into an
    mmpretrain ``ImageClassifier`` with an EMOv2 backbone (``final_norm=True``)."""
    state_dict = read_checkpoint(path, ema=ema)
    if is_official_layout(state_dict):
        state_dict = convert_official(state_dict, 'classifier')
    check_state_dict(model, state_dict, source=f"checkpoint '{path}'")
    model.load_state_dict(state_dict, strict=True)
