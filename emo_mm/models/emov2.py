"""The EMOv2 backbone family (EMOv2 1M-50M and EMOv1-style variants), one implementation.

Parameter names and shapes equal those of the official release, so official
checkpoints load without renaming (see :mod:`emo_mm.checkpoint`).
"""
import copy
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from emo_mm.checkpoint import (StateDict, convert_official, load_pretrained,
                               strip_backbone_prefix)
from .attention import WindowAttention
from .errors import EMOv2ArgumentError, UnknownArchError
from .layers import ConvNormAct, LayerScale2d, build_norm, optional_drop_path, reparameterize

# Settings shared by every size. ``attention`` per stage: None -> 1x1 conv mixer,
# a tuple of partitions -> window attention (see WindowAttention).
_HYBRID = ('remote', 'close')
_COMMON = dict(
    norms=('bn', 'bn', 'ln', 'ln'),
    acts=('silu', 'silu', 'gelu', 'gelu'),
    dw_kernel_sizes=(5, 5, 5, 5),
    attention=(None, None, _HYBRID, _HYBRID),
    layer_scale_init=1e-6,
)
_EMOV1 = dict(dw_kernel_sizes=(3, 3, 5, 5), attention=(None, None, ('remote', ), ('remote', )))

_SIZES = {
    '1m': dict(depths=(2, 2, 8, 3), embed_dims=(32, 48, 80, 180), exp_ratios=(2.0, 2.5, 3.0, 3.5),
               head_dims=(16, 16, 20, 20), drop_path_rate=0.04036),
    '2m': dict(depths=(3, 3, 9, 3), embed_dims=(32, 48, 120, 200), exp_ratios=(2.0, 2.5, 3.0, 3.5),
               head_dims=(16, 16, 20, 20), drop_path_rate=0.05),
    '5m': dict(depths=(3, 3, 9, 3), embed_dims=(48, 72, 160, 288), exp_ratios=(2.0, 3.0, 4.0, 4.0),
               head_dims=(16, 24, 32, 32), drop_path_rate=0.05),
    '20m': dict(depths=(3, 3, 13, 3), embed_dims=(64, 128, 320, 448), exp_ratios=(2.0, 3.0, 4.0, 4.0),
                head_dims=(16, 32, 32, 32), drop_path_rate=0.1),
    '50m': dict(depths=(5, 8, 20, 7), embed_dims=(64, 128, 384, 512), exp_ratios=(2.0, 3.0, 4.0, 4.0),
                head_dims=(16, 32, 32, 32), drop_path_rate=0.2),
}

#: Architecture table: ``'1m' .. '50m'`` (EMOv2) and ``'emov1_1m' .. 'emov1_20m'``
#: (3x3 depthwise kernels in stages 1-2, dilated-window attention only).
ARCH_SETTINGS: Dict[str, dict] = {
    **{name: {**_COMMON, **size} for name, size in _SIZES.items()},
    **{f'emov1_{name}': {**_COMMON, **size, **_EMOV1}
       for name, size in _SIZES.items() if name != '50m'},
}
_REQUIRED_ARCH_KEYS = ('depths', 'embed_dims', 'exp_ratios', 'head_dims')


class InvertedResidualBlock(nn.Module):
    """EMOv2's i2RMB: norm -> token mixer (1x1 conv or window attention) -> depthwise conv -> 1x1 proj.

    With ``stride == 1`` and equal widths the block is residual twice: around the
    depthwise conv, and around the whole block (scaled by LayerScale). The first
    block of a stage (stride 2) has neither, but still applies the LayerScale.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 expand_ratio: float,
                 norm: str,
                 act: str,
                 dw_kernel_size: int,
                 stride: int = 1,
                 attention: Optional[Sequence[str]] = None,
                 head_dim: int = 32,
                 window_size: int = 7,
                 drop_path: float = 0.0,
                 layer_scale_init: float = 1e-6) -> None:
        super().__init__()
        mid_channels = int(in_channels * expand_ratio)
        self.has_skip = in_channels == out_channels and stride == 1
        self.norm = build_norm(norm, in_channels)
        if attention:
            mixer = WindowAttention(in_channels, mid_channels, head_dim, window_size,
                                    partitions=attention, act=act)
        else:
            mixer = ConvMixer(in_channels, mid_channels, act)
        self.eops = nn.ModuleList([mixer])   # official name: "efficient operators"
        self.conv_local = ConvNormAct(mid_channels, mid_channels, dw_kernel_size, stride,
                                      groups=mid_channels, norm='bn', act='silu')
        self.proj = ConvNormAct(mid_channels, out_channels, 1, norm='none', act='none')
        self.ls = LayerScale2d(out_channels, layer_scale_init)
        self.drop_path = optional_drop_path(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Without autograd the residual sums go into the fresh branch outputs (no new tensors).
        add = torch.Tensor.add_ if not torch.is_grad_enabled() else torch.add
        y = self.eops[0](self.norm(x))
        y = add(self.conv_local(y), y) if self.has_skip else self.conv_local(y)
        if isinstance(self.ls, LayerScale2d):
            y = self.proj(y, out_scale=self.ls.gamma)   # = ls(proj(y)), without saving proj(y)
        else:
            y = self.ls(self.proj(y))                   # deploy form: ls folded into proj
        return add(self.drop_path(y), x) if self.has_skip else y

    def reparameterize(self) -> None:
        """Deploy form: LayerScale folded into the projection and the input BatchNorm into
        a 1x1 mixer (the depthwise conv's BatchNorm folds itself, see
        :meth:`ConvNormAct.reparameterize`)."""
        if isinstance(self.ls, LayerScale2d):
            self.proj.absorb_output_scale(self.ls.gamma)
            self.ls = nn.Identity()
        mixer = self.eops[0]
        if isinstance(self.norm, nn.BatchNorm2d) and isinstance(mixer, ConvMixer):
            mixer.net.absorb_input_norm(self.norm)
            self.norm = nn.Identity()


class ConvMixer(nn.Module):
    """The token mixer of attention-free stages: 1x1 conv + activation, wrapped so its keys
    read ``eops.0.net.conv.*`` as in the official release."""

    def __init__(self, in_channels: int, out_channels: int, act: str) -> None:
        super().__init__()
        self.net = ConvNormAct(in_channels, out_channels, 1, bias=True, norm='none', act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _stem(out_channels: int) -> nn.ModuleList:
    """3x3/2 conv (BN, SiLU) -> 3x3 depthwise (BN, SiLU) -> 1x1 conv; stride 2."""
    return nn.ModuleList([
        ConvNormAct(3, out_channels, 3, 2, bias=True, norm='bn', act='silu'),
        ConvNormAct(out_channels, out_channels, 3, 1, groups=out_channels, norm='bn', act='silu'),
        ConvNormAct(out_channels, out_channels, 1, norm='none', act='none'),
    ])


def _never_estimated(batch_norms: Sequence[_BatchNorm]) -> bool:
    """True when every BatchNorm still has its initial statistics (mean 0, variance 1)."""
    tracked = [m for m in batch_norms if m.track_running_stats and m.running_mean is not None]
    return bool(tracked) and all(
        bool((m.running_mean == 0).all()) and bool((m.running_var == 1).all()) for m in tracked)


def _pop_pretrained_cfg(init_cfg: Union[dict, List[dict], None]
                        ) -> Tuple[Optional[dict], Union[dict, List[dict], None]]:
    """Split an mmengine ``init_cfg`` into its ``Pretrained`` entry and the rest."""
    if init_cfg is None:
        return None, None
    cfgs = [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg)
    pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
    rest = [c for c in cfgs if c.get('type') != 'Pretrained']
    if len(pretrained) > 1:
        raise EMOv2ArgumentError('init_cfg holds more than one Pretrained entry')
    if pretrained and not pretrained[0].get('checkpoint'):
        raise EMOv2ArgumentError("init_cfg type='Pretrained' needs a 'checkpoint' path")
    return (pretrained[0] if pretrained else None), (rest or None)


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Return a full arch dict from a name in :data:`ARCH_SETTINGS` or a (partial) dict."""
    if isinstance(arch, str):
        key = arch.lower()
        if key not in ARCH_SETTINGS:
            raise UnknownArchError(f"unknown EMOv2 arch '{arch}'; choose one of {sorted(ARCH_SETTINGS)} "
                           'or pass a dict with ' + ', '.join(_REQUIRED_ARCH_KEYS))
        return copy.deepcopy(ARCH_SETTINGS[key])
    if not isinstance(arch, dict):
        raise EMOv2ArgumentError(f'arch must be a name or a dict, got {type(arch).__name__}')
    missing = [k for k in _REQUIRED_ARCH_KEYS if k not in arch]
    if missing:
        raise UnknownArchError(f'custom EMOv2 arch dict lacks {missing}')
    full = {**copy.deepcopy(_COMMON), 'drop_path_rate': 0.0, **arch}
    for key in ('depths', 'embed_dims', 'exp_ratios', 'head_dims', 'norms', 'acts',
                'dw_kernel_sizes', 'attention'):
        if len(full[key]) != 4:
            raise EMOv2ArgumentError(f"arch['{key}'] must have one entry per stage (4), got {full[key]}")
    return full


@MODELS.register_module()
class EMOv2(BaseModule):
    """EMOv2 backbone (Zhang et al., "EMOv2: Pushing 5M Vision Model Frontier", 2024).

    Args:
        arch: a name from :data:`ARCH_SETTINGS` (``'1m'``, ``'2m'``, ``'5m'``, ``'20m'``,
            ``'50m'``, ``'emov1_1m'`` ..) or a dict with ``depths``, ``embed_dims``,
            ``exp_ratios``, ``head_dims`` (and optionally the other keys of the table).
        window_size: attention window, an int or one per stage. 7 for ImageNet 224,
            8 for 256/512 fine-tuning, 10 for detection and segmentation; ``<= 0`` means global.
        out_indices: outputs to return; 0 is the stem (stride 2), 1-4 the stages
            (strides 4, 8, 16, 32). Negative indices count from the end.
        frozen_stages: freeze the stem (0) and stages 1..``frozen_stages``; -1 freezes nothing.
        norm_eval: keep every BatchNorm in eval mode while training: right when fine-tuning
            from ImageNet weights, wrong from scratch (the statistics would stay at their
            initial 0 / 1 and the stage-1/2 BatchNorms would not rescale the activations,
            which shrink until the backbone's output no longer depends on its input).
            Training with statistics that were never estimated logs a warning.
        drop_path_rate: stochastic-depth rate of the last block (linear over all blocks);
            ``None`` takes the arch's recipe value.
        final_norm: add the classifier's LayerNorm (``norm.*``) on the stage-4 output.
        layer_scale_init_value: initial LayerScale; ``None`` takes the arch's (1e-6). Short
            from-scratch runs learn faster with larger values (e.g. 0.1).
        with_cp: activation checkpointing per block (less memory, more compute).
        channels_last: keep weights and activations in channels-last memory format (same
            math): on CPU the depthwise convolutions run several times faster, LayerNorm2d
            and the 1x1 convolutions (as ``F.linear``) need no layout copies. ``False`` keeps
            PyTorch's default (NCHW) format. Either way the outputs are NCHW-contiguous:
            C++ ops downstream may read raw NCHW memory (mmcv's ``RoIAlign`` returns wrong
            features from channels-last maps, without an error).
        init_cfg: mmengine init config; ``dict(type='Pretrained', checkpoint=PATH)``
            loads an official or emo_mm checkpoint strictly (see :func:`load_pretrained`).
    """

    num_outputs = 5

    def __init__(self,
                 arch: Union[str, dict] = '5m',
                 window_size: Union[int, Sequence[int]] = 7,
                 out_indices: Union[int, Sequence[int]] = (4, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 drop_path_rate: Optional[float] = None,
                 final_norm: bool = False,
                 layer_scale_init_value: Optional[float] = None,
                 with_cp: bool = False,
                 channels_last: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch_name = arch if isinstance(arch, str) else 'custom'
        self.arch = resolve_arch(arch)
        self.embed_dims: Tuple[int, ...] = tuple(self.arch['embed_dims'])
        self.window_sizes = self._per_stage(window_size, 'window_size')
        self.out_indices = self._check_out_indices(out_indices)
        if not -1 <= frozen_stages <= 4:
            raise EMOv2ArgumentError(f'frozen_stages must be in [-1, 4], got {frozen_stages}')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self._warned_unestimated_stats = False
        self.with_cp = with_cp
        if drop_path_rate is None:
            drop_path_rate = self.arch['drop_path_rate']
        if layer_scale_init_value is not None:
            self.arch['layer_scale_init'] = layer_scale_init_value

        stem_channels = self.embed_dims[0] // 2
        self.stage0 = _stem(stem_channels)
        depths = self.arch['depths']
        rates = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist()
        in_channels = stem_channels
        for i, depth in enumerate(depths):
            blocks = []
            for j in range(depth):
                first = j == 0
                blocks.append(InvertedResidualBlock(
                    in_channels,
                    self.embed_dims[i],
                    expand_ratio=self.arch['exp_ratios'][i] * (2 if first else 1),
                    norm=self.arch['norms'][i],
                    act=self.arch['acts'][i],
                    dw_kernel_size=self.arch['dw_kernel_sizes'][i],
                    stride=2 if first else 1,
                    attention=None if first else self.arch['attention'][i],
                    head_dim=self.arch['head_dims'][i],
                    window_size=self.window_sizes[i],
                    drop_path=rates[sum(depths[:i]) + j],
                    layer_scale_init=self.arch['layer_scale_init']))
                in_channels = self.embed_dims[i]
            self.add_module(f'stage{i + 1}', nn.ModuleList(blocks))
        self.final_norm = final_norm
        if final_norm:
            self.norm = build_norm(self.arch['norms'][-1], self.embed_dims[-1])
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self._freeze_stages()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _per_stage(value: Union[int, Sequence[int]], name: str) -> Tuple[int, ...]:
        if isinstance(value, int):
            return (value, ) * 4
        value = tuple(value)
        if len(value) != 4:
            raise EMOv2ArgumentError(f'{name} must be an int or 4 values (one per stage), got {value}')
        return value

    def _check_out_indices(self, out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        resolved = []
        for index in out_indices:
            if not -self.num_outputs <= index < self.num_outputs:
                raise EMOv2ArgumentError(f'out_indices entries must be in [-5, 4] (0 = stem, 1-4 = stages), '
                                 f'got {index}')
            resolved.append(index % self.num_outputs)
        return tuple(resolved)

    @property
    def stages(self) -> List[nn.ModuleList]:
        """``[stage0 (stem), stage1, .., stage4]``."""
        return [getattr(self, f'stage{i}') for i in range(self.num_outputs)]

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each returned output, in ``out_indices`` order."""
        widths = (self.embed_dims[0] // 2, ) + self.embed_dims
        return tuple(widths[i] for i in self.out_indices)

    @property
    def feature_info(self) -> List[dict]:
        """timm-style description of every output: channels, stride and module name."""
        widths = (self.embed_dims[0] // 2, ) + self.embed_dims
        return [dict(num_chs=widths[i], reduction=2 ** (i + 1), module=f'stage{i}')
                for i in range(self.num_outputs)]

    # ------------------------------------------------------------ training mode
    def _freeze_stages(self) -> None:
        for stage in self.stages[:self.frozen_stages + 1]:
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'EMOv2':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            batch_norms = [m for m in self.modules() if isinstance(m, _BatchNorm)]
            for module in batch_norms:
                module.eval()
            if not self._warned_unestimated_stats and _never_estimated(batch_norms):
                self._warned_unestimated_stats = True
                print_log('EMOv2: norm_eval=True freezes BatchNorm statistics that were never '
                          'estimated (no pretrained weights were loaded); trained from scratch '
                          "like this, the backbone's output stops depending on its input. Set "
                          'model.backbone.norm_eval=False to train from scratch, or load '
                          "ImageNet weights (init_cfg=dict(type='Pretrained', ...) or load_from).",
                          logger='current', level=logging.WARNING)
        return self

    # ------------------------------------------------------------------ weights
    def init_weights(self) -> None:
        """Load ``init_cfg=dict(type='Pretrained', ...)`` strictly; otherwise mmengine's init."""
        pretrained, rest = _pop_pretrained_cfg(self.init_cfg)
        if pretrained is None:
            super().init_weights()
            return
        self.init_cfg = rest
        if rest:
            super().init_weights()
        load_pretrained(self, pretrained['checkpoint'], prefix=pretrained.get('prefix'))
        self._is_init = True

    def explain_checkpoint_mismatch(self, state_dict: StateDict) -> Optional[str]:
        """Called by :func:`emo_mm.checkpoint.check_state_dict` when a checkpoint does not
        fit: names the arch it fits, if any."""
        guess = guess_arch(strip_backbone_prefix(state_dict))
        return f"the checkpoint fits arch '{guess}'" if guess is not None else None

    def switch_to_deploy(self) -> 'EMOv2':
        """Fold BatchNorms and LayerScales into convolutions for inference (see
        :func:`emo_mm.models.reparameterize`); the model is put in eval mode."""
        return reparameterize(self)

    # ------------------------------------------------------------------ forward
    def _run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and self.training and x.requires_grad:
            return cp.checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        feats = {}
        for index, stage in enumerate(self.stages[:max(self.out_indices) + 1]):
            for block in stage:
                x = self._run_block(block, x)
            if index in self.out_indices:
                feats[index] = self.norm(x) if self.final_norm and index == 4 else x
        return tuple(feats[i].contiguous() for i in self.out_indices)


def guess_arch(state_dict: StateDict) -> Optional[str]:
    """Name of the arch in :data:`ARCH_SETTINGS` whose backbone keys and shapes the
    (official-layout) ``state_dict`` has, or None."""
    keys = {k: tuple(v.shape) for k, v in convert_official(state_dict, 'backbone').items()}
    n_scales = sum(1 for k in keys if k.endswith('.ls.gamma'))
    for name, arch in ARCH_SETTINGS.items():
        if n_scales != sum(arch['depths']):
            continue
        with torch.device('meta'):   # shapes only, no allocation
            model_keys = {k: tuple(v.shape) for k, v in EMOv2(name).state_dict().items()}
        if model_keys == keys:
            return name
    return None
