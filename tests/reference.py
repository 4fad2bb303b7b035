"""Plain re-statement of EMOv2's math from the spec, used only as the tests' oracle.

Loops over windows and heads with explicit token indices, so it shares no reshaping
logic with the implementation in ``emo_mm.models.attention``.
"""
from typing import Sequence

import torch
import torch.nn.functional as F


def window_tokens(kind: str, i1: int, i2: int, n1: int, n2: int, wh: int, ww: int):
    """(rows, cols) of the tokens of window (i1, i2), in row-major window order."""
    if kind == 'remote':      # dilated: every n-th token
        rows = [i1 + n1 * a for a in range(wh)]
        cols = [i2 + n2 * b for b in range(ww)]
    else:                     # close: a contiguous block
        rows = [i1 * wh + a for a in range(wh)]
        cols = [i2 * ww + b for b in range(ww)]
    return [(r, c) for r in rows for c in cols]


def plain_window_attention(x: torch.Tensor, qk_weight, qk_bias, v_weight, v_bias, v_act,
                           num_heads: int, window_size: int,
                           partitions: Sequence[str] = ('remote', 'close')) -> torch.Tensor:
    """Hybrid window attention of one ``(B, C, H, W)`` map, the slow and obvious way."""
    b, c, h, w = x.shape
    wh, ww = (window_size, window_size) if window_size > 0 else (h, w)
    hp, wp = -(-h // wh) * wh, -(-w // ww) * ww
    xp = x.new_zeros(b, c, hp, wp)
    xp[:, :, :h, :w] = x
    qk = F.conv2d(xp, qk_weight, qk_bias)
    v = v_act(F.conv2d(xp, v_weight, v_bias))
    q, k = qk[:, :c], qk[:, c:]
    dh, dv = c // num_heads, v.shape[1] // num_heads
    scale = dh ** -0.5
    n1, n2 = hp // wh, wp // ww
    out = v.new_zeros(v.shape)
    for kind in partitions:
        for i1 in range(n1):
            for i2 in range(n2):
                tokens = window_tokens(kind, i1, i2, n1, n2, wh, ww)
                rows = torch.tensor([t[0] for t in tokens])
                cols = torch.tensor([t[1] for t in tokens])
                for head in range(num_heads):
                    qh = q[:, head * dh:(head + 1) * dh, rows, cols].transpose(1, 2)  # B N d
                    kh = k[:, head * dh:(head + 1) * dh, rows, cols].transpose(1, 2)
                    vh = v[:, head * dv:(head + 1) * dv, rows, cols].transpose(1, 2)
                    attn = torch.softmax(qh @ kh.transpose(1, 2) * scale, dim=-1)
                    res = (attn @ vh).transpose(1, 2)                              # B dv N
                    out[:, head * dv:(head + 1) * dv, rows, cols] += res
    return out[:, :, :h, :w]


def plain_block(block, x: torch.Tensor) -> torch.Tensor:
    """An i2RMB block in eval mode, statement by statement from the spec."""
    shortcut = x
    x = block.norm(x)
    mixer = block.eops[0]
    if hasattr(mixer, 'qk'):
        x = plain_window_attention(x, mixer.qk.conv.weight, mixer.qk.conv.bias, mixer.v.conv.weight,
                                   mixer.v.conv.bias, mixer.v.act, mixer.num_heads,
                                   mixer.window_size, mixer.partitions)
    else:
        x = mixer.net.act(F.conv2d(x, mixer.net.conv.weight, mixer.net.conv.bias))
    local = block.conv_local
    x_l = F.silu(local.norm(local.conv(x)))
    x = x + x_l if block.has_skip else x_l
    x = F.conv2d(x, block.proj.conv.weight) * block.ls.gamma
    return shortcut + x if block.has_skip else x


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter and norm statistic non-trivial values (LayerScale ~ U(0.5, 1.5)):
    at init LayerScale is 1e-6 and would hide bugs in the residual branches."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('gamma'):
                p.copy_(torch.rand(p.shape, generator=gen) + 0.5)
            elif p.ndim == 1:   # norm affine and biases
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2 + (1.0 if 'norm' in name and name.endswith('weight') else 0.0))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)
        for name, buf in model.named_buffers():
            if name.endswith('running_mean'):
                buf.copy_(torch.randn(buf.shape, generator=gen) * 0.2)
            elif name.endswith('running_var'):
                buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
    return model
