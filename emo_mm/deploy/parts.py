"""Parts of an OpenMMLab model that deployment compiles, as modules called ``m(x)``."""
from typing import Any, Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

#: What ``--part`` compiles, as a call on the built model.
PARTS: Dict[str, str] = {
    'model': "the whole network without post-processing, model(x, mode='tensor'): class "
             'scores, detection head maps, or segmentation logits',
    'features': 'backbone + neck (model.extract_feat)',
    'backbone': "the backbone's out_indices feature maps",
}


class PartOf(nn.Module):
    """``model(x, mode='tensor')`` (part ``'model'``) or ``model.extract_feat(x)`` (part
    ``'features'``) of an OpenMMLab model, as a module called ``m(x)``."""

    def __init__(self, model: nn.Module, part: str) -> None:
        super().__init__()
        self.model = model
        self.part = part

    def forward(self, x: torch.Tensor) -> Any:
        if self.part == 'features':
            return self.model.extract_feat(x)
        return self.model(x, mode='tensor')



class PredictionsOf(nn.Module):
    """``model(x, mode='tensor')`` plus what a user reads off it, as a module called ``m(x)``:
    for a classifier (``task='mmpretrain'``) the logits and their softmax scores; for a
    segmentor (``'mmseg'``) the logits resized to the input, as mmseg's ``predict`` does, and
    the label map (their argmax); otherwise the raw outputs."""

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, x: torch.Tensor) -> Any:
        out = self.model(x, mode='tensor')
        if self.task == 'mmpretrain':
            return out, out.softmax(dim=-1)
        if self.task == 'mmseg':
            align = bool(getattr(self.model.decode_head, 'align_corners', False))
            logits = F.interpolate(out, size=x.shape[-2:], mode='bilinear', align_corners=align)
            return logits, logits.argmax(dim=1)
        return out

    def output_names(self) -> Tuple[str, ...]:
        """Names of the outputs, where the task fixes them."""
        return {'mmpretrain': ('logits', 'scores'), 'mmseg': ('logits', 'labels')}.get(self.task, ())
