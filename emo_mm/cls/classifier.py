"""mmpretrain classifiers that load official EMOv2 checkpoints directly and strictly."""
from collections import OrderedDict

import torch.nn as nn
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS

from emo_mm.checkpoint import CheckpointMismatchError, check_state_dict, convert_official
from .kd import KDImageClassifier

#: Keys of the official trainer's checkpoints (``{'net': ..., 'net_E': ...}``).
_TRAINER_KEYS = ('net', 'net_E')


def convert_official_layout(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """``load_state_dict`` pre-hook: rename an official EMOv2 classifier state dict
    (``stage0.*`` .. ``norm.*``, ``head.*`` under ``prefix``) in place to this classifier's
    keys (``backbone.*``, ``head.fc.*``), after checking that keys and shapes match it
    exactly; raises :class:`CheckpointMismatchError` naming every offending key.

    Other layouts (mmengine checkpoints: ``backbone.*``) are left to the caller.
    """
    if any(isinstance(state_dict.get(prefix + key), dict) for key in _TRAINER_KEYS):
        raise CheckpointMismatchError(
            "this is an official EMOv2 trainer checkpoint ({'net', 'net_E'}); extract the "
            'weights first: python tools/model_converters/emov2_official.py SRC DST --task cls '
            '[--ema]')
    ours = [key for key in state_dict if key.startswith(prefix)]
    if not any(key.startswith(prefix + 'stage0.') for key in ours):
        return
    converted = convert_official(
        OrderedDict((key[len(prefix):], state_dict[key]) for key in ours), 'classifier')
    check_state_dict(module, converted, source='official EMOv2 checkpoint')
    for key in ours:
        del state_dict[key]
    state_dict.update((prefix + key, value) for key, value in converted.items())


@MODELS.register_module()
class EMOv2Classifier(ImageClassifier):
    """:class:`ImageClassifier` (EMOv2 backbone with ``final_norm=True``, global average
    pooling, ``LinearClsHead``) that also loads the official flat checkpoints
    (``EMOv2_5M_224.pth``) through any ``load_state_dict`` / mmengine ``load_checkpoint``
    path, e.g. ``tools/test.py CONFIG EMOv2_5M_224.pth`` or ``load_from``: they are
    renamed and checked strictly (see :func:`convert_official_layout`)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_load_state_dict_pre_hook(convert_official_layout)


@MODELS.register_module()
class EMOv2KDClassifier(KDImageClassifier, EMOv2Classifier):
    """:class:`KDImageClassifier` whose student loads official EMOv2 checkpoints
    (see :class:`EMOv2Classifier`)."""
