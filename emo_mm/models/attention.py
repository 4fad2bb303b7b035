"""EMOv2 window attention: dilated ("remote") and local ("close") windows sharing q/k/v.

The official code partitions the padded map twice with separate rearrange copies and
attention calls (``benchmarks/plain_emov2.py`` keeps that form). Here the work is laid out
for speed without changing the math (``tests/reference.py`` states it with plain loops):

* tokens stay channels-last (``B, H, W, C``): q/k/v are ``F.linear`` on that view, so a
  channels-last input costs no copy;
* each of q, k, v is gathered once into a buffer holding the windows of *both* partitions,
  token-major per head, and both partitions go through one pair of batched matmuls;
* the two partitions' outputs are scattered back with one copy and one in-place add;
* padding is only applied when the map does not divide into windows, and after q/k/v
  (a zero token's q/k/v are known), so the 1x1 convs skip the padded tokens.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import ConvNormAct

#: Partition names understood by :class:`WindowAttention`.
PARTITIONS = ('remote', 'close')


def window_view(t: torch.Tensor, kind: str, ws: Tuple[int, int], grid: Tuple[int, int],
                heads: int) -> torch.Tensor:
    """``(B, Hp, Wp, heads*d)`` -> view ``(B, n1, n2, heads, wh, ww, d)`` of one partition.

    ``remote``: token (y, x) is in window (y % n1, x % n2) (dilated windows);
    ``close``: token (y, x) is in window (y // wh, x // ww) (ordinary local windows).
    """
    b, c = t.shape[0], t.shape[-1]
    (wh, ww), (n1, n2) = ws, grid
    if kind == 'remote':
        return t.view(b, wh, n1, ww, n2, heads, c // heads).permute(0, 2, 4, 5, 1, 3, 6)
    return t.view(b, n1, wh, n2, ww, heads, c // heads).permute(0, 1, 3, 5, 2, 4, 6)


def merge_view(t: torch.Tensor, kind: str) -> torch.Tensor:
    """Inverse of :func:`window_view`: ``(B, n1, n2, heads, wh, ww, d)`` -> the 7-d view whose
    contiguous form is ``(B, Hp, Wp, heads*d)``."""
    if kind == 'remote':
        return t.permute(0, 4, 1, 5, 2, 3, 6)   # B wh n1 ww n2 heads d
    return t.permute(0, 1, 4, 2, 5, 3, 6)       # B n1 wh n2 ww heads d


def gather_windows(t: torch.Tensor, kinds: Sequence[str], ws: Tuple[int, int],
                   grid: Tuple[int, int], heads: int) -> torch.Tensor:
    """Windows of every partition in ``kinds``, stacked: ``(P*B*n1*n2*heads, wh*ww, d)``."""
    views = [window_view(t, kind, ws, grid, heads) for kind in kinds]
    stacked = views[0].unsqueeze(0) if len(views) == 1 else torch.stack(views)
    return stacked.reshape(-1, ws[0] * ws[1], t.shape[-1] // heads)


def scatter_windows(out: torch.Tensor, kinds: Sequence[str], batch: int, ws: Tuple[int, int],
                    grid: Tuple[int, int], heads: int) -> torch.Tensor:
    """Sum of the partitions' outputs ``(P*B*n1*n2*heads, wh*ww, d)`` as ``(B, Hp, Wp, heads*d)``."""
    (wh, ww), (n1, n2) = ws, grid
    d = out.shape[-1]
    parts = out.view(len(kinds), batch, n1, n2, heads, wh, ww, d).unbind(0)
    views = [merge_view(p, kind) for p, kind in zip(parts, kinds)]
    y = views[0].reshape(batch, n1 * wh, n2 * ww, heads * d)
    for view in views[1:]:
        y.view(view.shape).add_(view)
    return y


def pad_tokens(t: torch.Tensor, pad_b: int, pad_r: int, value: Optional[torch.Tensor]) -> torch.Tensor:
    """Pad ``(B, H, W, C)`` at the bottom and right with the per-channel ``value`` (zeros if None)."""
    if value is None:
        return F.pad(t, (0, 0, 0, pad_r, 0, pad_b))
    b, h, w, c = t.shape
    out = t.new_empty(b, h + pad_b, w + pad_r, c)
    out[:, :h, :w] = t
    out[:, h:] = value
    out[:, :h, w:] = value
    return out


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

    The output is channels-last in memory (a permuted ``(B, H, W, C)`` tensor).
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

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        attn = torch.bmm(q, k.transpose(1, 2)).mul_(self.scale)
        return torch.bmm(attn.softmax(dim=-1), v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        wh, ww = (self.window_size, self.window_size) if self.window_size > 0 else (h, w)
        pad_b, pad_r = (-h) % wh, (-w) % ww
        x = x.permute(0, 2, 3, 1)    # B H W C: a view for channels-last input
        grid = ((h + pad_b) // wh, (w + pad_r) // ww)
        ws = (wh, ww)
        qk_bias, v_bias = self.qk.conv.bias, self.v.conv.bias
        qk = F.linear(x, self.qk.conv.weight.flatten(1), qk_bias)
        v = self.v.act(F.linear(x, self.v.conv.weight.flatten(1), v_bias))
        if pad_b or pad_r:
            # The official code zero-pads the normed input, and padded tokens are attended to
            # (not masked). A zero token's q/k/v are the biases (through v's activation), so
            # the padding is applied after the 1x1 convs, which then skip the padded tokens.
            qk = pad_tokens(qk, pad_b, pad_r, qk_bias)
            v = pad_tokens(v, pad_b, pad_r, None if v_bias is None else self.v.act(v_bias))
        kinds = self.partitions
        heads = self.num_heads
        q, k = qk[..., :c], qk[..., c:]
        out = self._attend(*(gather_windows(t, kinds, ws, grid, heads) for t in (q, k, v)))
        y = scatter_windows(out, kinds, b, ws, grid, heads)
        if pad_b or pad_r:
            y = y[:, :h, :w]
        return y.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f'heads={self.num_heads}, head_dim={self.head_dim}, '
                f'window_size={self.window_size}, partitions={self.partitions}')
