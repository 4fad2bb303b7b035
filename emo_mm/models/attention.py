"""EMOv2 window attention: dilated ("remote") and local ("close") windows sharing q/k/v.

The official code partitions the padded map twice with separate reshapes and attention
calls. Here both partitions are gathered into one batch and go through a single
``F.scaled_dot_product_attention`` call; the math is the same (see
``tests/reference_attention.py`` for the plain loop-over-windows statement).
"""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import ConvNormAct

#: Partition names understood by :class:`WindowAttention`.
PARTITIONS = ('remote', 'close')


def _partition(t: torch.Tensor, kind: str, heads: int, ws: Tuple[int, int],
               grid: Tuple[int, int]) -> torch.Tensor:
    """``(B, heads*d, Hp, Wp)`` -> ``(B*n1*n2, heads, wh*ww, d)`` windows of one partition.

    ``remote``: token (y, x) goes to window (y % n1, x % n2) (dilated windows);
    ``close``: token (y, x) goes to window (y // wh, x // ww) (ordinary local windows).
    """
    b, c = t.shape[:2]
    (wh, ww), (n1, n2) = ws, grid
    d = c // heads
    if kind == 'remote':
        t = t.reshape(b, heads, d, wh, n1, ww, n2).permute(0, 4, 6, 1, 3, 5, 2)
    else:
        t = t.reshape(b, heads, d, n1, wh, n2, ww).permute(0, 3, 5, 1, 4, 6, 2)
    return t.reshape(b * n1 * n2, heads, wh * ww, d)


def _unpartition(t: torch.Tensor, kind: str, batch: int, ws: Tuple[int, int],
                 grid: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`_partition`: ``(B*n1*n2, heads, wh*ww, d)`` -> ``(B, heads*d, Hp, Wp)``."""
    heads, d = t.shape[1], t.shape[3]
    (wh, ww), (n1, n2) = ws, grid
    t = t.reshape(batch, n1, n2, heads, wh, ww, d)
    if kind == 'remote':
        t = t.permute(0, 3, 6, 4, 1, 5, 2)   # b heads d wh n1 ww n2
    else:
        t = t.permute(0, 3, 6, 1, 4, 2, 5)   # b heads d n1 wh n2 ww
    return t.reshape(batch, heads * d, n1 * wh, n2 * ww)


class WindowAttention(nn.Module):
    """Multi-head attention inside windows, on ``(B, C, H, W)`` maps.

    Args:
        in_channels: input width ``C``; queries/keys keep it (``2C`` channels from ``qk``).
        out_channels: width of ``v`` and of the output (the block's expanded width).
        head_dim: query/key width per head; ``heads = in_channels // head_dim``.
        window_size: window side; ``<= 0`` attends over the whole map.
        partitions: ``('remote', 'close')`` for EMOv2's hybrid attention, ``('remote',)``
            for EMOv1-style dilated windows. The outputs of the partitions are summed.
        act: activation applied to ``v``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 head_dim: int,
                 window_size: int,
                 partitions: Sequence[str] = PARTITIONS,
                 act: str = 'gelu',
                 qkv_bias: bool = True) -> None:
        super().__init__()
        unknown = set(partitions) - set(PARTITIONS)
        if unknown or not partitions:
            raise ValueError(f'partitions must be a non-empty subset of {PARTITIONS}, got {partitions}')
        self.num_heads = in_channels // head_dim
        if self.num_heads < 1 or out_channels % self.num_heads:
            raise ValueError(f'cannot split {in_channels}/{out_channels} channels into heads of {head_dim}')
        self.head_dim = head_dim
        self.scale = head_dim ** -0.5
        self.window_size = window_size
        self.partitions = tuple(partitions)
        self.qk = ConvNormAct(in_channels, 2 * in_channels, 1, bias=qkv_bias, norm='none', act='none')
        self.v = ConvNormAct(in_channels, out_channels, 1, bias=qkv_bias, norm='none', act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        wh, ww = (self.window_size, self.window_size) if self.window_size > 0 else (h, w)
        pad_b, pad_r = (-h) % wh, (-w) % ww
        if pad_b or pad_r:
            # Zero padding on the normed input; padded tokens are attended to (not masked).
            x = F.pad(x, (0, pad_r, 0, pad_b))
        grid = ((h + pad_b) // wh, (w + pad_r) // ww)
        ws = (wh, ww)
        q, k = self.qk(x).chunk(2, dim=1)
        v = self.v(x)
        heads = self.num_heads
        qs, ks, vs = ([_partition(t, p, heads, ws, grid) for p in self.partitions] for t in (q, k, v))
        out = F.scaled_dot_product_attention(
            torch.cat(qs), torch.cat(ks), torch.cat(vs), scale=self.scale)
        out = sum(_unpartition(o, p, b, ws, grid)
                  for o, p in zip(out.chunk(len(self.partitions)), self.partitions))
        if pad_b or pad_r:
            out = out[:, :, :h, :w]
        return out

    def extra_repr(self) -> str:
        return (f'heads={self.num_heads}, head_dim={self.head_dim}, '
                f'window_size={self.window_size}, partitions={self.partitions}')
