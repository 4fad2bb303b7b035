"""mmpretrain peer backbones made to run at the demos' input sizes.

mmpretrain 1.2's ``EfficientFormer`` gives its last-stage attention a bias table for a fixed
7x7 token map (a 224 input) and fails on any other (``The size of tensor a (36) must match the
size of tensor b (49)`` at 192). The table is indexed by the offset ``(|dy|, |dx|)`` between
two tokens, and every offset of a smaller ``r x r`` map (``r <= 7``) is in it, so
:class:`EfficientFormerAnySize` indexes the same table with the actual map's offsets: at 7x7
it is mmpretrain's model exactly, and its state dict is mmpretrain's (same keys and shapes).

Configs pull this module in with ``custom_imports=dict(imports=['emo_mm.models.peers'])`` and
use ``type='EfficientFormerAnySize'`` (registered in mmengine's root registry, as ``EMOv2``).
"""
import itertools
import math
from typing import Dict

import torch
from mmengine.registry import MODELS
from mmpretrain.models.backbones.efficientformer import (AttentionWithBias, EfficientFormer,
                                                         Meta3D)


class AnySizeAttentionWithBias(AttentionWithBias):
    """``AttentionWithBias`` whose bias is looked up for the token map it is given: a square
    ``r x r`` map with ``r`` up to the table's ``resolution``."""

    def __init__(self, embed_dims: int, resolution: int = 7, **kwargs) -> None:
        super().__init__(embed_dims, resolution=resolution, **kwargs)
        self.resolution = resolution
        # The table's column of each offset, in mmpretrain's enumeration order.
        self._offset_column: Dict[tuple, int] = {}
        points = list(itertools.product(range(resolution), range(resolution)))
        for p1 in points:
            for p2 in points:
                offset = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                self._offset_column.setdefault(offset, len(self._offset_column))
        self._index_cache: Dict[int, torch.Tensor] = {}

    def bias_index(self, num_tokens: int) -> torch.Tensor:
        """``(N, N)`` columns of ``attention_biases`` for a square map of ``N`` tokens."""
        side = math.isqrt(num_tokens)
        if side * side != num_tokens or side > self.resolution:
            raise ValueError(
                f'EfficientFormer attention got {num_tokens} tokens: it needs a square last-stage '
                f'map of at most {self.resolution}x{self.resolution} (input side <= '
                f'{32 * self.resolution}, a multiple of 32)')
        if side not in self._index_cache:
            points = list(itertools.product(range(side), range(side)))
            index = [self._offset_column[(abs(a[0] - b[0]), abs(a[1] - b[1]))]
                     for a in points for b in points]
            self._index_cache[side] = torch.tensor(index).view(num_tokens, num_tokens)
        return self._index_cache[side].to(self.attention_biases.device)

    def train(self, mode: bool = True) -> 'AnySizeAttentionWithBias':
        # mmpretrain caches a 7x7 bias in eval mode; here it is looked up per call.
        return torch.nn.Module.train(self, mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, num_tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, num_tokens, self.num_heads, -1).permute(0, 2, 1, 3)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.d], dim=-1)
        bias = self.attention_biases[:, self.bias_index(num_tokens)]
        attn = ((q @ k.transpose(-2, -1)) * self.scale + bias).softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(batch, num_tokens, self.dh)
        return self.proj(x)


@MODELS.register_module()
class EfficientFormerAnySize(EfficientFormer):
    """mmpretrain's ``EfficientFormer`` (same arguments, same state dict) whose attention runs
    on any square last-stage map up to 7x7, e.g. the 6x6 map of a 192 input."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for block in self.modules():
            if isinstance(block, Meta3D):
                old = block.token_mixer
                new = AnySizeAttentionWithBias(old.qkv.in_features, num_heads=old.num_heads,
                                               key_dim=old.key_dim, attn_ratio=old.attn_ratio)
                new.load_state_dict(old.state_dict())
                block.token_mixer = new
