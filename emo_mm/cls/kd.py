"""Soft-label knowledge distillation (the EMOv2 recipe's ``CLSKDLoss``, ``kd_type='soft'``)."""
import os
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.runner import load_checkpoint
from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def soft_kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                 tau: float = 1.0) -> torch.Tensor:
    """``KL(softmax(t / tau) || softmax(s / tau))`` summed over classes and the batch,
    divided by the batch size, times ``tau ** 2`` (computed in float32)."""
    log_p_student = F.log_softmax(student_logits.float() / tau, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits.float() / tau, dim=1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction='sum', log_target=True)
    return kl * tau**2 / student_logits.shape[0]


def _check_local_file(path: str) -> None:
    """A clear error for a teacher checkpoint that is neither a URL nor an existing file."""
    if '://' in path or os.path.isfile(path):
        return
    raise FileNotFoundError(
        f'KD teacher checkpoint {path} not found: put the teacher\'s weights there (see '
        'docs/classification.md, "Knowledge distillation"), or point the config elsewhere with '
        '--cfg-options model.teacher_checkpoint=PATH')


class _Unregistered:
    """Holds a module outside its owner's module tree: it stays out of ``state_dict``,
    ``parameters()`` (optimizer, EMA, DDP) and checkpoints, and deep copies (the EMA
    model) share it instead of duplicating it."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __deepcopy__(self, memo: dict) -> '_Unregistered':
        return self


@MODELS.register_module()
class KDImageClassifier(ImageClassifier):
    """:class:`ImageClassifier` trained with cross-entropy plus soft knowledge distillation
    from a frozen teacher: ``loss_kd = kd_loss_weight * soft_kd_loss(student, teacher, tau)``.

    The teacher sees the training batch de-normalised to [0, 1] RGB (with this model's
    ``data_preprocessor`` mean/std), bicubically resized to ``teacher_input_size`` if that
    differs, then normalised with ``teacher_mean`` / ``teacher_std`` (in [0, 1] units).
    It is kept in eval mode without gradients, and is not part of this model's
    ``state_dict``: checkpoints hold the student only, so they load into the plain
    (non-KD) config as well.

    Args:
        teacher: config of any mmpretrain classifier (``ImageClassifier``,
            ``TimmClassifier``, ...); ``model(x, mode='tensor')`` must return logits.
        teacher_checkpoint: weights loaded (strictly) into the teacher by
            :meth:`init_weights`, i.e. when training starts; a local path or URL.
            ``None`` keeps the teacher's own initialisation (its ``init_cfg``).
        kd_loss_weight: weight of the distillation term (CE has weight 1).
        tau: softmax temperature.
        teacher_input_size: square input size of the teacher; ``None`` feeds the
            student's input size.
        teacher_mean, teacher_std: the teacher's input normalisation, [0, 1] units
            (``(0, 0, 0)`` / ``(1, 1, 1)``: raw [0, 1] images, as TResNet expects).
        **kwargs: arguments of :class:`ImageClassifier` (the student).
    """

    def __init__(self,
                 teacher: dict,
                 teacher_checkpoint: Optional[str] = None,
                 kd_loss_weight: float = 5.0,
                 tau: float = 1.0,
                 teacher_input_size: Optional[int] = None,
                 teacher_mean: Sequence[float] = (0., 0., 0.),
                 teacher_std: Sequence[float] = (1., 1., 1.),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        model = MODELS.build(teacher)
        model.eval()
        model.requires_grad_(False)
        self._teacher = _Unregistered(model)
        self.teacher_checkpoint = teacher_checkpoint
        self.kd_loss_weight = kd_loss_weight
        self.tau = tau
        self.teacher_input_size = teacher_input_size
        self.teacher_mean = tuple(teacher_mean)
        self.teacher_std = tuple(teacher_std)

    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher (not a registered submodule)."""
        return self._teacher.module

    def _apply(self, fn, *args, **kwargs):
        """``.to()`` / ``.cuda()`` / ``.half()`` move the teacher too."""
        self.teacher._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def init_weights(self) -> None:
        """Initialise the student, then load ``teacher_checkpoint`` into the teacher."""
        super().init_weights()
        if self.teacher_checkpoint:
            _check_local_file(self.teacher_checkpoint)
            load_checkpoint(self.teacher, self.teacher_checkpoint, map_location='cpu',
                            strict=True)
        else:
            self.teacher.init_weights()
            print_log('KDImageClassifier: no teacher_checkpoint, the teacher keeps its own '
                      'initialisation', 'current')
        self.teacher.eval()

    def teacher_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """The batch as the teacher wants it: [0, 1] RGB, resized, teacher-normalised."""
        preprocessor = self.data_preprocessor
        images = inputs.float()
        if getattr(preprocessor, 'mean', None) is not None:
            images = images * preprocessor.std + preprocessor.mean
        images = images / 255.
        size = self.teacher_input_size
        if size is not None and tuple(images.shape[-2:]) != (size, size):
            images = F.interpolate(images, size=(size, size), mode='bicubic',
                                   align_corners=False)
        mean = images.new_tensor(self.teacher_mean).view(1, -1, 1, 1)
        std = images.new_tensor(self.teacher_std).view(1, -1, 1, 1)
        return (images - mean) / std

    @torch.no_grad()
    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher logits for a batch of (student-normalised) inputs."""
        self.teacher.eval()
        logits = self.teacher(self.teacher_inputs(inputs), mode='tensor')
        return logits[-1] if isinstance(logits, (tuple, list)) else logits

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> dict:
        """The head's loss (renamed ``loss_cls``, so that the logged ``loss`` is the total)
        plus ``loss_kd``."""
        feats = self.extract_feat(inputs)
        losses = {('loss_cls' if key == 'loss' else key): value
                  for key, value in self.head.loss(feats, data_samples).items()}
        student_logits = self.head(feats)
        losses['loss_kd'] = self.kd_loss_weight * soft_kd_loss(
            student_logits, self.teacher_logits(inputs), self.tau)
        return losses
