"""EMOv2 written the way the official code computes it: the baseline of ``tools/analysis/benchmark.py``.

Statement by statement from the spec (§2, §3): LayerNorm2d permutes to channels-last and back,
the attention input is always zero-padded (a copy), each of the two partitions (dilated
"remote" ``b c (h1 n1) (w1 n2)`` and local "close" ``b c (n1 h1) (n2 w1)``) is rearranged with
reshape/permute copies and gets its own ``q @ k^T``, softmax and ``@ v``; the two results are
un-partitioned, summed and cropped. Parameter names equal :class:`emo_mm.models.EMOv2`'s, so
``PlainEMOv2(...).load_state_dict(EMOv2(...).state_dict())`` works.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

from emo_mm.models.emov2 import resolve_arch

EPS = 1e-6


def _rearrange_windows(t: torch.Tensor, kind: str, n1: int, n2: int) -> torch.Tensor:
    """``b c H W -> (b n1 n2) c h1 w1``: remote ``(h1 n1) (w1 n2)``, close ``(n1 h1) (n2 w1)``."""
    b, c, hp, wp = t.shape
    h1, w1 = hp // n1, wp // n2
    if kind == 'remote':
        t = t.reshape(b, c, h1, n1, w1, n2).permute(0, 3, 5, 1, 2, 4)
    else:
        t = t.reshape(b, c, n1, h1, n2, w1).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(b * n1 * n2, c, h1, w1).contiguous()


def _merge_windows(t: torch.Tensor, kind: str, n1: int, n2: int) -> torch.Tensor:
    """Inverse of :func:`_rearrange_windows`: ``(b n1 n2) c h1 w1 -> b c H W``."""
    bn, c, h1, w1 = t.shape
    b = bn // (n1 * n2)
    t = t.reshape(b, n1, n2, c, h1, w1)
    if kind == 'remote':
        t = t.permute(0, 3, 4, 1, 5, 2)
    else:
        t = t.permute(0, 3, 1, 4, 2, 5)
    return t.reshape(b, c, h1 * n1, w1 * n2).contiguous()


class LayerNorm2d(nn.Module):
    """``b c h w -> b h w c``, LayerNorm over C, back to ``b c h w``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1).contiguous()).permute(0, 3, 1, 2).contiguous()


def _norm(kind: str, channels: int) -> nn.Module:
    return {'bn': lambda: nn.BatchNorm2d(channels, eps=EPS), 'ln': lambda: LayerNorm2d(channels),
            'none': nn.Identity}[kind]()


def _act(kind: str) -> nn.Module:
    return {'silu': lambda: nn.SiLU(inplace=True), 'gelu': nn.GELU, 'none': nn.Identity}[kind]()


class ConvNormAct(nn.Module):
    """``act(norm(conv(x)))``, padding ``ceil((k - stride) / 2)``."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1,
                 bias: bool = False, norm: str = 'bn', act: str = 'none') -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, math.ceil((k - stride) / 2), groups=groups,
                              bias=bias)
        self.norm = _norm(norm, cout)
        self.act = _act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


class LayerScale2D(nn.Module):
    """In-place ``x.mul_(gamma)``, as the official ``LayerScale2D``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(1e-6 * torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul_(self.gamma)


class DropPath(nn.Module):
    """Per-sample stochastic depth (training only)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1 - self.p
        mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
        return x * mask / keep


class ConvEop(nn.Module):
    """Eop code 0: 1x1 conv with bias and activation."""

    def __init__(self, cin: int, cout: int, act: str) -> None:
        super().__init__()
        self.net = ConvNormAct(cin, cout, 1, bias=True, norm='none', act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class HybridAttention(nn.Module):
    """EW_MHSA_Hybrid / Remote / Close: shared q/k/v, one attention per partition, summed."""

    def __init__(self, cin: int, cmid: int, head_dim: int, window_size: int,
                 partitions: Sequence[str], act: str) -> None:
        super().__init__()
        self.num_head = cin // head_dim
        self.dim_head = head_dim
        self.scale = head_dim ** -0.5
        self.window_size = window_size
        self.partitions = tuple(partitions)
        self.qk = ConvNormAct(cin, 2 * cin, 1, bias=True, norm='none', act='none')
        self.v = ConvNormAct(cin, cmid, 1, bias=True, norm='none', act=act)

    def _attend(self, qk: torch.Tensor, v: torch.Tensor, kind: str, n1: int, n2: int) -> torch.Tensor:
        qk = _rearrange_windows(qk, kind, n1, n2)
        b, _, h1, w1 = qk.shape
        heads = self.num_head
        # 'b (qk heads dim_head) h w -> qk b heads (h w) dim_head'
        qk = qk.reshape(b, 2, heads, self.dim_head, h1 * w1).permute(1, 0, 2, 4, 3).contiguous()
        q, k = qk[0], qk[1]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        # 'b (heads d_v) h w -> b heads (h w) d_v'
        v = _rearrange_windows(v, kind, n1, n2)
        v = v.reshape(b, heads, -1, h1 * w1).permute(0, 1, 3, 2).contiguous()
        out = attn @ v
        # 'b heads (h w) d_v -> b (heads d_v) h w'
        out = out.permute(0, 1, 3, 2).reshape(b, -1, h1, w1)
        return _merge_windows(out, kind, n1, n2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        ws_h, ws_w = (self.window_size, self.window_size) if self.window_size > 0 else (h, w)
        pad_r = (ws_w - w % ws_w) % ws_w
        pad_b = (ws_h - h % ws_h) % ws_h
        x = F.pad(x, (0, pad_r, 0, pad_b, 0, 0))
        n1, n2 = (h + pad_b) // ws_h, (w + pad_r) // ws_w
        qk, v = self.qk(x), self.v(x)
        outs = [self._attend(qk, v, kind, n1, n2) for kind in self.partitions]
        out = outs[0]
        for other in outs[1:]:
            out = out + other
        return out[:, :, :h, :w].contiguous()


class Block(nn.Module):
    """iiRMB: norm -> eop -> (+) depthwise conv -> proj -> LayerScale (-> + shortcut)."""

    def __init__(self, cin: int, cout: int, exp_ratio: float, norm: str, act: str, dw_ks: int,
                 stride: int, attention: Optional[Sequence[str]], head_dim: int, window_size: int,
                 drop_path: float) -> None:
        super().__init__()
        cmid = int(cin * exp_ratio)
        self.has_skip = cin == cout and stride == 1
        self.norm = _norm(norm, cin)
        eop = (HybridAttention(cin, cmid, head_dim, window_size, attention, act) if attention
               else ConvEop(cin, cmid, act))
        self.eops = nn.ModuleList([eop])
        self.conv_local = ConvNormAct(cmid, cmid, dw_ks, stride, groups=cmid, norm='bn', act='silu')
        self.proj = ConvNormAct(cmid, cout, 1, norm='none', act='none')
        self.ls = LayerScale2D(cout)
        self.drop_path = DropPath(drop_path) if drop_path else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm(x)
        x = self.eops[0](x)
        x_l = self.conv_local(x)
        x = x + x_l if self.has_skip else x_l
        x = self.proj(x)
        return shortcut + self.drop_path(self.ls(x)) if self.has_skip else self.ls(x)


class PlainEMOv2(nn.Module):
    """The official EMOv2 formulation; same constructor subset and outputs as ``EMOv2``."""

    def __init__(self,
                 arch: Union[str, dict] = '5m',
                 window_size: int = 7,
                 out_indices: Sequence[int] = (4, ),
                 drop_path_rate: Optional[float] = None,
                 final_norm: bool = False,
                 with_cp: bool = False) -> None:
        super().__init__()
        cfg = resolve_arch(arch)
        dims = cfg['embed_dims']
        self.out_indices = tuple(i % 5 for i in out_indices)
        self.with_cp = with_cp
        dpr = cfg['drop_path_rate'] if drop_path_rate is None else drop_path_rate
        rates = torch.linspace(0, dpr, sum(cfg['depths'])).tolist()
        c0 = dims[0] // 2
        self.stage0 = nn.ModuleList([
            ConvNormAct(3, c0, 3, 2, bias=True, norm='bn', act='silu'),
            ConvNormAct(c0, c0, 3, 1, groups=c0, norm='bn', act='silu'),
            ConvNormAct(c0, c0, 1, norm='none', act='none'),
        ])
        cin = c0
        for i, depth in enumerate(cfg['depths']):
            blocks = []
            for j in range(depth):
                blocks.append(Block(
                    cin, dims[i], cfg['exp_ratios'][i] * (2 if j == 0 else 1), cfg['norms'][i],
                    cfg['acts'][i], cfg['dw_kernel_sizes'][i], 2 if j == 0 else 1,
                    None if j == 0 else cfg['attention'][i], cfg['head_dims'][i], window_size,
                    rates[sum(cfg['depths'][:i]) + j]))
                cin = dims[i]
            self.add_module(f'stage{i + 1}', nn.ModuleList(blocks))
        self.final_norm = final_norm
        if final_norm:
            self.norm = _norm(cfg['norms'][-1], dims[-1])

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        feats = {}
        for index in range(max(self.out_indices) + 1):
            for block in getattr(self, f'stage{index}'):
                if self.with_cp and self.training and x.requires_grad:
                    x = cp.checkpoint(block, x, use_reentrant=False)
                else:
                    x = block(x)
            if index in self.out_indices:
                feats[index] = self.norm(x) if self.final_norm and index == 4 else x
        return tuple(feats[i] for i in self.out_indices)
