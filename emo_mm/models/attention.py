"""EMOv2 window attention: dilated ("remote") and local ("close") windows sharing q/k/v.

The official code zero-pads the map to whole windows, partitions it twice with separate
rearrange copies and attention calls (``benchmarks/plain_emov2.py`` keeps that form). Here the
work is laid out for speed without changing the math (``tests/reference.py`` states it with
plain loops):

* tokens stay channels-last (``B, H, W, C``): q/k/v are ``F.linear`` on that view, so a
  channels-last input costs no copy;
* windows are described by :class:`WindowGroup` s; each of q, k, v is gathered once into a
  buffer holding every group of the same shape (both partitions when the map divides into
  windows), which goes through one pair of batched matmuls; outputs are written back with
  one copy (first partition) and one in-place add (second) per group;
* padding. A padded token is zero before the 1x1 convs, so its key and value are the same
  for every padded token (the biases, the value through its activation). Attending to ``m``
  copies of one key equals attending once to that key with ``log m`` added to its logit, and
  a padded query's output is cropped away. So each window attends from and to its real
  tokens (the top-left block of the window) plus one merged padded key, and the map is not
  padded at all when those blocks are plain views of it. At 512 x 512 with window 10 this
  halves the attention work of stage 3 (32 x 32 tokens in 40 x 40 padded windows).
"""
import functools
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import EMOv2ArgumentError
from .layers import ConvNormAct

#: Partition names understood by :class:`WindowAttention`.
PARTITIONS = ('remote', 'close')

Span = Tuple[int, int, int]   # first window, last window + 1, tokens of each window used


@dataclass(frozen=True)
class WindowGroup:
    """Windows of one partition that attend alike: windows ``rows[0]:rows[1]`` x
    ``cols[0]:cols[1]`` of the window grid, each using the top-left ``block`` of its tokens
    as queries and keys, plus one key standing for its ``merged`` other (padded) tokens."""
    kind: str
    rows: Span
    cols: Span
    merged: int

    @property
    def block(self) -> Tuple[int, int]:
        return self.rows[2], self.cols[2]

    @property
    def grid(self) -> Tuple[int, int]:
        return self.rows[1] - self.rows[0], self.cols[1] - self.cols[0]


@dataclass(frozen=True)
class AttentionPlan:
    """How one map is attended: its window ``groups`` (first partition first), bucketed by
    shape into attention calls, and the extent ``size`` of the map the views read (the map
    itself unless some view reaches into the padding)."""
    window: Tuple[int, int]
    grid: Tuple[int, int]
    size: Tuple[int, int]
    groups: Tuple[WindowGroup, ...]
    buckets: Tuple[Tuple[WindowGroup, ...], ...]
    padded: bool                # size exceeds the map
    merges: bool                # some group has a merged key

    @property
    def first_group_is_map(self) -> bool:
        """The first partition is one group of whole windows tiling the map."""
        first = [g for g in self.groups if g.kind == self.groups[0].kind]
        return len(first) == 1 and first[0].block == self.window and not self.padded


def _axis_spans(kind: str, size: int, win: int, n: int, merge: bool) -> List[Span]:
    """How the ``n`` windows of one axis split by their number of real tokens."""
    if size == win * n or not merge:
        return [(0, n, win)]
    if kind == 'remote':      # window i holds tokens i, i + n, ..: ceil((size - i) / n) real
        return [(0, n, -(-size // n))]
    full = n - 1              # close: every window but the last is real
    return ([(0, full, win)] if full else []) + [(full, n, size - full * win)]


def _extent(kind: str, span: Span, win: int, n: int) -> int:
    """Tokens along the axis that a span's view reads."""
    i0, i1, block = span
    return n * block if kind == 'remote' else i0 * win + (i1 - i0) * block


@functools.lru_cache(maxsize=None)
def attention_plan(kinds: Tuple[str, ...], size: Tuple[int, int], window: Tuple[int, int],
                   merge_padding: bool = True) -> AttentionPlan:
    """The plan for a ``size`` map in ``window`` windows (the map zero-padded to whole
    windows). With ``merge_padding=False`` every window attends over all its tokens, padded
    ones included, as the official code."""
    grid = (-(-size[0] // window[0]), -(-size[1] // window[1]))
    groups = []
    for kind in kinds:
        for rows in _axis_spans(kind, size[0], window[0], grid[0], merge_padding):
            for cols in _axis_spans(kind, size[1], window[1], grid[1], merge_padding):
                merged = window[0] * window[1] - rows[2] * cols[2]
                groups.append(WindowGroup(kind, rows, cols, merged))
    extent = tuple(max([size[axis]] + [_extent(g.kind, (g.rows, g.cols)[axis], window[axis],
                                                       grid[axis]) for g in groups])
                   for axis in (0, 1))
    buckets: Dict[Tuple, List[WindowGroup]] = {}
    for group in groups:
        buckets.setdefault((group.block, group.merged), []).append(group)
    return AttentionPlan(window, grid, extent, tuple(groups),
                         tuple(tuple(b) for b in buckets.values()),
                         padded=extent != tuple(size), merges=any(g.merged for g in groups))


def _narrow(t: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    return t if start == 0 and length == t.shape[dim] else t.narrow(dim, start, length)


def group_view(t: torch.Tensor, group: WindowGroup, plan: AttentionPlan, heads: int) -> torch.Tensor:
    """``(B, H, W, heads*d)`` -> view ``(B, gi, gj, heads, bh, bw, d)`` of a group's tokens."""
    (r0, r1, bh), (c0, c1, bw) = group.rows, group.cols
    (wh, ww), (n1, n2) = plan.window, plan.grid
    if group.kind == 'remote':   # token a of window i is i + n * a
        t = _narrow(_narrow(t, 1, 0, n1 * bh), 2, 0, n2 * bw)
        t = _narrow(_narrow(t.view(t.shape[0], bh, n1, bw, n2, heads, -1), 2, r0, r1 - r0), 4, c0, c1 - c0)
        return t.permute(0, 2, 4, 5, 1, 3, 6)
    t = _narrow(_narrow(t, 1, r0 * wh, (r1 - r0) * bh), 2, c0 * ww, (c1 - c0) * bw)
    return t.view(t.shape[0], r1 - r0, bh, c1 - c0, bw, heads, -1).permute(0, 1, 3, 5, 2, 4, 6)


def merge_windows(t: torch.Tensor, kind: str) -> torch.Tensor:
    """Inverse of :func:`group_view` for a group tiling the whole map: ``(B, gi, gj, heads,
    bh, bw, d)`` -> a new ``(B, H, W, heads*d)`` tensor."""
    b, gi, gj, heads, bh, bw, d = t.shape
    t = t.permute(0, 4, 1, 5, 2, 3, 6) if kind == 'remote' else t.permute(0, 1, 4, 2, 5, 3, 6)
    return t.reshape(b, gi * bh, gj * bw, heads * d)


def pad_tokens(t: torch.Tensor, height: int, width: int, value: torch.Tensor) -> torch.Tensor:
    """Pad ``(B, H, W, C)`` at the bottom and right to ``height x width`` with the per-channel
    ``value``."""
    b, h, w, c = t.shape
    if torch.compiler.is_exporting():
        # AOTInductor with freezing (torch 2.14) returns uninitialised values for the padded
        # map built below; concatenation is correct there, but ~20 % slower in eager (1M, 1024).
        fill = value.view(1, 1, 1, c)
        t = torch.cat([t, fill.expand(b, h, width - w, c)], 2) if width > w else t
        return torch.cat([t, fill.expand(b, height - h, width, c)], 1) if height > h else t
    out = t.new_empty(b, height, width, c)
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

    ``merge_padding`` (attribute, default True): windows that overhang the map attend to
    their padded tokens as one merged key (the same result, less work). False computes as
    the official code: the input is zero-padded to whole windows, every padded token goes
    through q/k/v and is attended to (:func:`emo_mm.analysis.count_flops` counts this form).
    The output is channels-last in memory (a permuted ``(B, H, W, C)`` tensor).

    ``any_shape`` (attribute, default False): compute the official form with tensor
    operations only, no shape-dependent plan, so that a graph exported with symbolic height
    and width (ONNX with dynamic axes) stays valid for every input size. Same function.
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
            raise EMOv2ArgumentError(f'partitions must be a non-empty subset of {PARTITIONS}, got {partitions}')
        self.num_heads = in_channels // head_dim
        if self.num_heads < 1 or out_channels % self.num_heads:
            raise EMOv2ArgumentError(f'cannot split {in_channels}/{out_channels} channels into heads of {head_dim}')
        self.head_dim = head_dim
        self.scale = head_dim ** -0.5
        self.window_size = window_size
        self.partitions = tuple(partitions)
        self.merge_padding = True
        self.any_shape = False
        self.qk = ConvNormAct(in_channels, 2 * in_channels, 1, bias=qkv_bias, norm='none', act='none')
        self.v = ConvNormAct(in_channels, out_channels, 1, bias=qkv_bias, norm='none', act=act)

    def padded_token(self, like: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Query/key and value of a zero (padded) input token: the biases (v activated)."""
        qk_bias, v_bias = self.qk.conv.bias, self.v.conv.bias
        qk = like.new_zeros(self.qk.conv.out_channels) if qk_bias is None else qk_bias
        v = like.new_zeros(self.v.conv.out_channels) if v_bias is None else v_bias
        return qk, self.v.act(v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.any_shape:
            return self._forward_any_shape(x)
        b, c, h, w = x.shape
        window = (self.window_size, self.window_size) if self.window_size > 0 else (h, w)
        # Dynamo traces the plain function (the plan is a constant of the compiled graph).
        make_plan = attention_plan.__wrapped__ if torch.compiler.is_compiling() else attention_plan
        plan = make_plan(self.partitions, (h, w), window, self.merge_padding)
        heads = self.num_heads
        x = x.permute(0, 2, 3, 1)    # B H W C: a view for channels-last input
        official = plan.padded and not self.merge_padding
        if official:                 # zero-pad the input, as the official code
            x = F.pad(x, (0, 0, 0, plan.size[1] - w, 0, plan.size[0] - h))
        qk = F.linear(x, self.qk.conv.weight.flatten(1), self.qk.conv.bias)
        v = self.v.act(F.linear(x, self.v.conv.weight.flatten(1), self.v.conv.bias))
        pad_k = pad_v = None         # a padded token's key and value, where they are needed
        if not official and (plan.merges or plan.padded):
            pad_qk, pad_v = self.padded_token(v)
            pad_k = pad_qk[c:]
            if plan.padded:          # some views reach past the map: pad after q/k/v
                qk = pad_tokens(qk, *plan.size, pad_qk)
                v = pad_tokens(v, *plan.size, pad_v)
        q, k = qk[..., :c], qk[..., c:]
        outputs = {}
        for bucket in plan.buckets:
            out = self._attend(self._gather(q, bucket, plan), self._gather(k, bucket, plan, pad_k),
                               self._gather(v, bucket, plan, pad_v), bucket[0].merged)
            counts = [b * g.grid[0] * g.grid[1] * heads for g in bucket]
            for group, part in zip(bucket, out.split(counts)):
                outputs[group] = part.reshape(b, *group.grid, heads, *group.block, -1)
        first = plan.groups[0].kind
        if plan.first_group_is_map:
            y = merge_windows(outputs[plan.groups[0]], first)
        else:
            y = v.new_empty(b, *plan.size, v.shape[-1])
        for group in plan.groups[1:] if plan.first_group_is_map else plan.groups:
            dst = group_view(y, group, plan, heads)
            dst.copy_(outputs[group]) if group.kind == first else dst.add_(outputs[group])
        if plan.padded:
            y = y[:, :h, :w]
        return y.permute(0, 3, 1, 2)

    def _forward_any_shape(self, x: torch.Tensor) -> torch.Tensor:
        """The official form (zero-pad to whole windows, attend to every token, crop), written
        with shape arithmetic that export keeps symbolic: ceil-divisions and crops, no modulo."""
        b, c, h, w = x.shape
        if self.window_size > 0:
            win_h = win_w = self.window_size
            n1, n2 = (h + win_h - 1) // win_h, (w + win_w - 1) // win_w    # windows per side
            t = F.pad(x.permute(0, 2, 3, 1), (0, 0, 0, n2 * win_w - w, 0, n1 * win_h - h))
        else:                        # one window covering the whole map
            win_h, win_w, n1, n2 = h, w, 1, 1
            t = x.permute(0, 2, 3, 1)
        qk = F.linear(t, self.qk.conv.weight.flatten(1), self.qk.conv.bias)
        v = self.v.act(F.linear(t, self.v.conv.weight.flatten(1), self.v.conv.bias))
        y = None
        for kind in self.partitions:
            out = self._attend_windows(qk[..., :c], qk[..., c:], v, kind, n1, n2, win_h, win_w)
            y = out if y is None else y + out
        return y[:, :h, :w].permute(0, 3, 1, 2)

    def _attend_windows(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kind: str,
                        n1, n2, win_h, win_w) -> torch.Tensor:
        """Attention in the ``n1 x n2`` windows of ``kind`` of ``B Hp Wp C`` maps: a remote
        window takes every n-th token (dilated), a close one a block of neighbours. Every
        reshape names its sizes, so export divides no symbolic expression."""
        b, heads = q.shape[0], self.num_heads
        d_qk, d_v = q.shape[-1] // heads, v.shape[-1] // heads

        def split(t: torch.Tensor, d) -> torch.Tensor:  # -> (B n1 n2) heads (win_h win_w) d
            if kind == 'remote':
                t = t.reshape(b, win_h, n1, win_w, n2, heads, d).permute(0, 2, 4, 5, 1, 3, 6)
            else:
                t = t.reshape(b, n1, win_h, n2, win_w, heads, d).permute(0, 1, 3, 5, 2, 4, 6)
            return t.reshape(b * n1 * n2, heads, win_h * win_w, d)

        attn = (split(q, d_qk) @ split(k, d_qk).transpose(-2, -1)) * self.scale
        out = attn.softmax(dim=-1) @ split(v, d_v)         # (B n1 n2) heads tokens d
        out = out.reshape(b, n1, n2, heads, win_h, win_w, d_v)
        if kind == 'remote':
            out = out.permute(0, 4, 1, 5, 2, 3, 6)           # B win_h n1 win_w n2 heads d
        else:
            out = out.permute(0, 1, 4, 2, 5, 3, 6)           # B n1 win_h n2 win_w heads d
        return out.reshape(b, n1 * win_h, n2 * win_w, heads * d_v)

    def _gather(self, t: torch.Tensor, bucket: Sequence[WindowGroup], plan: AttentionPlan,
                merged_token: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The bucket's windows of ``t`` as ``(windows*heads, tokens, d)``; with
        ``merged_token`` (the padded token) and merged tokens, that token is appended."""
        heads = self.num_heads
        views = [group_view(t, g, plan, heads) for g in bucket]
        tokens, d = views[0].shape[4] * views[0].shape[5], views[0].shape[6]
        extra = int(merged_token is not None and bucket[0].merged > 0)
        if not extra and len(views) == 1:
            return views[0].reshape(-1, tokens, d)
        if not extra and len({v.shape for v in views}) == 1:
            return torch.stack(views).reshape(-1, tokens, d)
        counts = [v.shape[:4].numel() for v in views]
        buf = t.new_empty(sum(counts), tokens + extra, d)
        start = 0
        for view, count in zip(views, counts):
            buf[start:start + count, :tokens].view(view.shape).copy_(view)
            start += count
        if extra:
            buf[:, tokens].unflatten(0, (-1, heads)).copy_(merged_token.view(heads, d))
        return buf

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, merged: int) -> torch.Tensor:
        attn = torch.bmm(q, k.transpose(1, 2)).mul_(self.scale)
        if merged:                   # the last key stands for `merged` identical padded tokens
            attn[..., -1].add_(math.log(merged))
        return torch.bmm(attn.softmax(dim=-1), v)

    def extra_repr(self) -> str:
        return (f'heads={self.num_heads}, head_dim={self.head_dim}, '
                f'window_size={self.window_size}, partitions={self.partitions}')
