"""Parts of an OpenMMLab model that deployment compiles, as modules called ``m(x)``."""
from typing import Any, Dict

import torch
import torch.nn as nn

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
