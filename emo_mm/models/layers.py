"""Small building blocks of EMOv2, named so that state-dict keys match the official release."""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from emo_mm.ops import depthwise_conv2d, uses_native_weight_grad

from .errors import EMOv2ArgumentError

#: EMOv2 uses eps=1e-6 for every BatchNorm and LayerNorm.
NORM_EPS = 1e-6


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a ``(B, C, H, W)`` map, per pixel.

    Holds the affine parameters in a child ``norm`` (an ``nn.LayerNorm``) so the
    keys read ``<prefix>.norm.weight`` as in the official checkpoints.
    """

    def __init__(self, num_channels: int, eps: float = NORM_EPS) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(num_channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.norm.normalized_shape, self.norm.weight,
                         self.norm.bias, self.norm.eps)
        return x.permute(0, 3, 1, 2)


def build_norm(kind: str, num_channels: int) -> nn.Module:
    """``'bn'`` -> BatchNorm2d, ``'ln'`` -> :class:`LayerNorm2d`, ``'none'`` -> Identity."""
    if kind == 'bn':
        return nn.BatchNorm2d(num_channels, eps=NORM_EPS)
    if kind == 'ln':
        return LayerNorm2d(num_channels)
    if kind == 'none':
        return nn.Identity()
    raise EMOv2ArgumentError(f"unknown norm '{kind}', expected one of 'bn', 'ln', 'none'")


class SiLU(nn.Module):
    """SiLU, in place when autograd is off. (An in-place SiLU under autograd makes autograd
    clone its input, since the backward needs it: out of place is cheaper there.)"""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x, inplace=not torch.is_grad_enabled())


def build_act(kind: str) -> nn.Module:
    """``'silu'``, ``'gelu'`` (exact erf form), ``'relu'`` or ``'none'``."""
    if kind == 'silu':
        return SiLU()
    if kind == 'gelu':
        return nn.GELU()
    if kind == 'relu':
        return nn.ReLU(inplace=True)
    if kind == 'none':
        return nn.Identity()
    raise EMOv2ArgumentError(f"unknown activation '{kind}', expected one of 'silu', 'gelu', 'relu', 'none'")


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether a 4-d tensor is laid out as ``(B, H, W, C)`` in memory."""
    return x.permute(0, 2, 3, 1).is_contiguous()


class ConvNormAct(nn.Module):
    """Conv2d -> norm -> activation, with 'same' padding for odd kernels.

    A 1x1 convolution (stride 1, one group) on a channels-last input runs as ``F.linear``
    on the ``(B, H, W, C)`` view: the same math, with no layout conversion and no
    im2col fallback (PyTorch's CPU 1x1 convolution path at batch 1 on one thread).

    A depthwise convolution on a CPU takes its weight gradient from emo_mm's C kernel
    (:func:`emo_mm.ops.depthwise_conv2d`; oneDNN's is 3-8x slower). Under CPU bfloat16
    autocast it runs, with its norm and activation, in float32: oneDNN's bfloat16 depthwise
    backward is 2-8x slower than its float32 one (docs/benchmark.md), while a matrix unit
    speeds up only the GEMMs around it.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 groups: int = 1,
                 bias: bool = False,
                 norm: str = 'bn',
                 act: str = 'relu') -> None:
        super().__init__()
        padding = math.ceil((kernel_size - stride) / 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                              padding, groups=groups, bias=bias)
        self.norm = build_norm(norm, out_channels)
        self.act = build_act(act)
        self.pointwise = kernel_size == 1 and stride == 1 and groups == 1
        self.depthwise = groups > 1 and groups == in_channels

    def forward(self, x: torch.Tensor, out_scale: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``act(norm(conv(x)))``; ``out_scale`` (per output channel, e.g. a LayerScale's gamma)
        multiplies the conv's weight and bias instead of its output, which saves autograd
        from keeping the output for the scale's gradient. Only for a plain conv (no norm or
        activation)."""
        weight, bias = self.conv.weight, self.conv.bias
        if out_scale is not None:
            if not (isinstance(self.norm, nn.Identity) and isinstance(self.act, nn.Identity)):
                raise EMOv2ArgumentError('out_scale needs a conv without norm and activation')
            weight = weight * out_scale.reshape(-1, 1, 1, 1)
            bias = None if bias is None else bias * out_scale.flatten()
        if self.pointwise and is_channels_last(x):
            y = F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias)
            if isinstance(self.norm, nn.Identity):
                # Activate the (B, H, W, C) tensor, not its permuted view: autograd would
                # otherwise see mixed layouts in the activation's backward (slow).
                return self.act(y).permute(0, 3, 1, 2)
            y = y.permute(0, 3, 1, 2)
        elif self.depthwise and x.device.type == 'cpu':
            if torch.is_autocast_enabled('cpu'):
                with torch.autocast('cpu', enabled=False):
                    y = self._depthwise(x.float(), weight.float(),
                                        None if bias is None else bias.float())
                    return self.act(self.norm(y))
            y = self._depthwise(x, weight, bias)
        elif out_scale is None:
            y = self.conv(x)
        else:
            y = self.conv._conv_forward(x, weight, bias)
        return self.act(self.norm(y))

    def _depthwise(self, x: torch.Tensor, weight: torch.Tensor,
                   bias: Optional[torch.Tensor]) -> torch.Tensor:
        conv = self.conv
        if (conv.dilation == (1, 1) and conv.padding_mode == 'zeros'
                and uses_native_weight_grad(x, weight)):
            return depthwise_conv2d(x, weight, bias, conv.stride, conv.padding)
        if weight is conv.weight and bias is conv.bias:
            # Through the module: graph quantizers (PT2E int8) find convolutions by module.
            return conv(x)
        return conv._conv_forward(x, weight, bias)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Deploy form: ``norm(conv(x))`` -> ``conv'(x)`` when the norm is a BatchNorm (eval-mode
        statistics); nothing otherwise."""
        if not isinstance(self.norm, nn.BatchNorm2d):
            return
        scale, shift = batch_norm_affine(self.norm)
        self.conv.weight.mul_(scale.view(-1, 1, 1, 1))
        bias = shift if self.conv.bias is None else self.conv.bias * scale + shift
        self.conv.bias = nn.Parameter(bias)
        self.norm = nn.Identity()

    @torch.no_grad()
    def absorb_input_norm(self, bn: nn.BatchNorm2d) -> None:
        """``conv(bn(x))`` -> ``conv'(x)``; exact for a 1x1 convolution (no padding)."""
        if not self.pointwise:
            raise EMOv2ArgumentError('only a 1x1 convolution can absorb the norm before it')
        scale, shift = batch_norm_affine(bn)
        extra = self.conv.weight.flatten(1) @ shift
        self.conv.weight.mul_(scale.view(1, -1, 1, 1))
        self.conv.bias = nn.Parameter(extra if self.conv.bias is None else self.conv.bias + extra)

    @torch.no_grad()
    def absorb_output_scale(self, gamma: torch.Tensor) -> None:
        """``conv(x) * gamma`` -> ``conv'(x)`` (per output channel) for a conv with neither
        norm nor activation."""
        if not (isinstance(self.norm, nn.Identity) and isinstance(self.act, nn.Identity)):
            raise EMOv2ArgumentError('an output scale folds only into a conv without norm and activation')
        self.conv.weight.mul_(gamma.reshape(-1, 1, 1, 1))
        if self.conv.bias is not None:
            self.conv.bias.mul_(gamma.flatten())


def batch_norm_affine(bn: nn.BatchNorm2d) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``bn(x) == x * scale + shift`` per channel, in eval mode."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class LayerScale2d(nn.Module):
    """Per-channel learnable scale ``gamma`` of shape ``(1, C, 1, 1)``."""

    def __init__(self, num_channels: int, init_value: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init_value * torch.ones(1, num_channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class DropPath(nn.Module):
    """Per-sample stochastic depth; identity in eval or when ``drop_prob == 0``."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0], ) + (1, ) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f'drop_prob={self.drop_prob}'


def optional_drop_path(drop_prob: Optional[float]) -> nn.Module:
    """A :class:`DropPath` when ``drop_prob > 0``, else ``nn.Identity``."""
    return DropPath(drop_prob) if drop_prob else nn.Identity()


def reparameterize(model: nn.Module) -> nn.Module:
    """Fold, in place, every foldable BatchNorm and LayerScale of a model containing EMOv2
    parts (timm's ``reparameterize_model``): each module with a ``reparameterize()`` method
    folds itself. Puts the model in eval mode and returns it; the folded model computes the
    same function as the original in eval mode, with fewer ops (for inference only)."""
    model.eval()
    for module in list(model.modules()):
        fold = getattr(module, 'reparameterize', None)
        if callable(fold):
            fold()
    return model
