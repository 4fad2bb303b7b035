"""Deploy-time reparameterisation of EMOv2: fold every BatchNorm and LayerScale into a conv.

The folded model computes the same function as the original in eval mode (running BN
statistics), with fewer ops; it is meant for inference only.
"""
import torch
import torch.nn as nn

from .layers import ConvNormAct, LayerScale2d


def _bn_affine(bn: nn.BatchNorm2d):
    """``bn(x) == x * scale + shift`` per channel, in eval mode."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


@torch.no_grad()
def fold_norm_into_conv(layer: ConvNormAct) -> None:
    """``norm(conv(x))`` -> ``conv'(x)`` for a :class:`ConvNormAct` whose norm is a BatchNorm."""
    conv, bn = layer.conv, layer.norm
    scale, shift = _bn_affine(bn)
    conv.weight.mul_(scale.view(-1, 1, 1, 1))
    bias = shift if conv.bias is None else conv.bias * scale + shift
    conv.bias = nn.Parameter(bias)
    layer.norm = nn.Identity()


@torch.no_grad()
def fold_input_norm_into_pointwise(bn: nn.BatchNorm2d, layer: ConvNormAct) -> None:
    """``conv(bn(x))`` -> ``conv'(x)`` for a 1x1 convolution (no padding, so exact)."""
    conv = layer.conv
    scale, shift = _bn_affine(bn)
    extra = conv.weight.flatten(1) @ shift
    conv.weight.mul_(scale.view(1, -1, 1, 1))
    conv.bias = nn.Parameter(extra if conv.bias is None else conv.bias + extra)


@torch.no_grad()
def fold_layer_scale(layer: ConvNormAct, ls: LayerScale2d) -> None:
    """``ls(conv(x))`` -> ``conv'(x)`` for a conv with neither norm nor activation."""
    layer.conv.weight.mul_(ls.gamma.view(-1, 1, 1, 1))
    if layer.conv.bias is not None:
        layer.conv.bias.mul_(ls.gamma.flatten())


def reparameterize(model: nn.Module) -> nn.Module:
    """Fold, in place, every foldable BatchNorm and LayerScale of an EMOv2 model (a backbone
    or any model containing one): the stem's conv-BN pairs, each block's depthwise conv-BN,
    a block's input BatchNorm into its 1x1 mixer conv, and LayerScale into the projection.
    Puts the model in eval mode and returns it."""
    from .emov2 import EMOv2, InvertedResidualBlock, _ConvMixer
    model.eval()
    for module in model.modules():
        if isinstance(module, EMOv2):
            for layer in module.stage0:
                if isinstance(layer.norm, nn.BatchNorm2d):
                    fold_norm_into_conv(layer)
        elif isinstance(module, InvertedResidualBlock):
            fold_norm_into_conv(module.conv_local)
            fold_layer_scale(module.proj, module.ls)
            module.ls = nn.Identity()
            mixer = module.eops[0]
            if isinstance(module.norm, nn.BatchNorm2d) and isinstance(mixer, _ConvMixer):
                fold_input_norm_into_pointwise(module.norm, mixer.net)
                module.norm = nn.Identity()
    return model
