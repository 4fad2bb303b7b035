"""Strict loading of official EMOv2 checkpoints (and emo_mm's own) into emo_mm models.

Official files are flat state dicts (``EMOv2_5M_224.pth``) or trainer checkpoints
``{'net': ..., 'net_E': ...}``, possibly with DDP ``module.`` prefixes. Our backbone uses the
official parameter names, so conversion is only unwrapping, prefix handling and dropping
(or re-homing) the classifier's ``norm.*`` / ``head.*``. Every load is strict: missing,
unexpected or wrongly shaped keys raise :class:`CheckpointMismatchError` naming them.
"""
import os
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn

StateDict = Dict[str, torch.Tensor]

#: Keys that hold the state dict inside wrapped checkpoints, tried in this order.
_WRAPPER_KEYS = ('state_dict', 'net', 'model')


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model; the message lists every offending key."""


def _describe(keys: List[str], limit: int = 12) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


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
    from emo_mm.utils.safe_load import safe_torch_load
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
        ckpt = OrderedDict((k[len('module.'):], v) for k, v in ckpt.items())
    return ckpt


def strip_prefix(state_dict: StateDict, prefix: str) -> StateDict:
    """Keep the keys under ``prefix`` and remove it; error if there are none."""
    picked = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    if not picked:
        raise CheckpointMismatchError(f"no key starts with prefix '{prefix}'; first keys: "
                                      f'{_describe(list(state_dict), 5)}')
    return picked


def is_official_layout(state_dict: StateDict) -> bool:
    """True for the classification layout of the official code (``stage0.*`` at top level)."""
    return any(k.startswith('stage0.') for k in state_dict)


def official_to_backbone(state_dict: StateDict, final_norm: bool = False) -> StateDict:
    """Official classifier state dict -> :class:`EMOv2` keys (drops ``head.*``, and ``norm.*``
    unless the backbone owns the final norm)."""
    drop = ('head.', ) if final_norm else ('head.', 'norm.')
    return OrderedDict((k, v) for k, v in state_dict.items() if not k.startswith(drop))


def official_to_classifier(state_dict: StateDict) -> StateDict:
    """Official classifier state dict -> mmpretrain ``ImageClassifier`` keys
    (``backbone.*`` with the final norm, ``head.fc.*``)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        if key.startswith('head.'):
            out['head.fc.' + key[len('head.'):]] = value
        else:
            out['backbone.' + key] = value
    return out


def guess_arch(state_dict: StateDict) -> Optional[str]:
    """Name of the arch in :data:`ARCH_SETTINGS` whose backbone keys and shapes the
    (official-layout) ``state_dict`` has, or None."""
    from .emov2 import ARCH_SETTINGS, EMOv2
    keys = {k: tuple(v.shape) for k, v in official_to_backbone(state_dict).items()}
    for name, arch in ARCH_SETTINGS.items():
        n_blocks = sum(arch['depths'])
        if sum(1 for k in keys if k.endswith('.ls.gamma')) != n_blocks:
            continue
        with torch.device('meta'):   # shapes only, no allocation
            model_keys = {k: tuple(v.shape) for k, v in EMOv2(name).state_dict().items()}
        if model_keys == keys:
            return name
    return None


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
    if problems:
        if missing or wrong_shape:
            guess = guess_arch(strip_backbone_prefix(state_dict))
            if guess is not None:
                problems.append(f"the checkpoint fits arch '{guess}'")
        raise CheckpointMismatchError(
            f'{source} does not match {type(model).__name__}'
            f"{' (' + str(getattr(model, 'arch_name')) + ')' if hasattr(model, 'arch_name') else ''}: "
            + '; '.join(problems))


def strip_backbone_prefix(state_dict: StateDict) -> StateDict:
    """Drop a leading ``backbone.`` (emo_mm classifier/detector checkpoints), if all
    backbone keys carry it; otherwise return ``state_dict`` unchanged."""
    if is_official_layout(state_dict) or not any(k.startswith('backbone.') for k in state_dict):
        return state_dict
    return OrderedDict((k[len('backbone.'):], v) for k, v in state_dict.items()
                       if k.startswith('backbone.'))


def load_pretrained(backbone: nn.Module, path: str, prefix: Optional[str] = None,
                    ema: bool = False) -> None:
    """Strictly load an official or emo_mm checkpoint into an :class:`EMOv2` backbone.

    ``prefix`` selects a sub-module of a bigger checkpoint (e.g. ``'backbone.'`` of a
    detector); an emo_mm classifier checkpoint (``backbone.*``) is recognised by itself.
    """
    state_dict = read_checkpoint(path, ema=ema)
    if prefix:
        state_dict = strip_prefix(state_dict, prefix)
    else:
        state_dict = strip_backbone_prefix(state_dict)
    state_dict = official_to_backbone(state_dict, final_norm=getattr(backbone, 'final_norm', False))
    check_state_dict(backbone, state_dict, source=f"checkpoint '{path}'")
    backbone.load_state_dict(state_dict, strict=True)


def load_model(model: nn.Module, path: str, ema: bool = False) -> None:
    """Strictly load a whole-model checkpoint: an emo_mm/mmengine checkpoint of ``model``
    (detector, segmentor or classifier), or an official classification checkpoint into an
    mmpretrain ``ImageClassifier`` with an EMOv2 backbone (``final_norm=True``)."""
    state_dict = read_checkpoint(path, ema=ema)
    if is_official_layout(state_dict):
        state_dict = official_to_classifier(state_dict)
    check_state_dict(model, state_dict, source=f"checkpoint '{path}'")
    model.load_state_dict(state_dict, strict=True)


def load_classifier(classifier: nn.Module, path: str, ema: bool = False) -> None:
    """Strictly load an official classification checkpoint (or an emo_mm one) into an
    mmpretrain ``ImageClassifier`` built with an EMOv2 backbone (``final_norm=True``)."""
    load_model(classifier, path, ema=ema)


def pop_pretrained_cfg(init_cfg: Union[dict, List[dict], None]) -> Tuple[Optional[dict], Union[dict, List[dict], None]]:
    """Split an mmengine ``init_cfg`` into its ``Pretrained`` entry and the rest."""
    if init_cfg is None:
        return None, None
    cfgs = [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg)
    pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
    rest = [c for c in cfgs if c.get('type') != 'Pretrained']
    if len(pretrained) > 1:
        raise ValueError('init_cfg holds more than one Pretrained entry')
    if pretrained and not pretrained[0].get('checkpoint'):
        raise ValueError("init_cfg type='Pretrained' needs a 'checkpoint' path")
    return (pretrained[0] if pretrained else None), (rest or None)
