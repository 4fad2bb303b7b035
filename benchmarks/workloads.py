"""Workloads timed by ``tools/analysis/benchmark.py``, each built for two backbone variants with
identical weights: ``plain`` (:class:`benchmarks.plain_emov2.PlainEMOv2`, the official
formulation) and ``ours`` (:class:`emo_mm.models.EMOv2`)."""
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn as nn

from benchmarks.plain_emov2 import PlainEMOv2
from emo_mm.models import EMOv2

REPO_ROOT = Path(__file__).resolve().parent.parent
DET_DEMO = REPO_ROOT / 'configs' / 'det' / 'demo' / 'retinanet_emov2_1m_shapes.py'
VARIANTS = ('plain', 'ours')


def build_backbone(variant: str, arch: str, window: int, final_norm: bool = False,
                   with_cp: bool = False, out_indices=(4, ), seed: int = 0, **kwargs) -> nn.Module:
    """EMOv2 (``ours``) or PlainEMOv2 (``plain``) with the same seeded weights."""
    torch.manual_seed(seed)
    ours = EMOv2(arch, window_size=window, final_norm=final_norm, with_cp=with_cp,
                 out_indices=out_indices, **kwargs)
    if variant == 'ours':
        return ours
    plain = PlainEMOv2(arch, window_size=window, final_norm=final_norm, with_cp=with_cp,
                       out_indices=out_indices, drop_path_rate=kwargs.get('drop_path_rate'))
    plain.load_state_dict(ours.state_dict())
    return plain


def build_classifier(variant: str, arch: str, window: int, with_cp: bool = False,
                     num_classes: int = 1000) -> nn.Module:
    """mmpretrain ``ImageClassifier``: EMOv2 (final LayerNorm) -> global pool -> linear head."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    backbone = build_backbone(variant, arch, window, final_norm=True, with_cp=with_cp)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            backbone=dict(type='EMOv2', arch=arch, window_size=window, final_norm=True),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=num_classes,
                      in_channels=backbone.norm.norm.normalized_shape[0])))
    model.backbone = backbone
    return model


def classifier_train_step(model: nn.Module, batch: int, size: int, device: str,
                          amp: bool = False) -> Callable[[], None]:
    """One AdamW step (one param group, multi-tensor update) of the classifier on a fixed
    random batch with random labels."""
    from mmpretrain.structures import DataSample
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, foreach=True)
    inputs = torch.randn(batch, 3, size, size, device=device)
    samples = [DataSample().set_gt_label(int(i) % 1000).to(device) for i in range(batch)]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            losses = model.loss(inputs, samples)
        sum(losses.values()).backward()
        optimizer.step()
    return step


def build_detector(variant: str, config: Path = DET_DEMO) -> nn.Module:
    """The RetinaNet demo detector from its config, with the chosen backbone variant swapped in."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    import emo_mm.det  # noqa: F401  (the demo config's custom imports)
    cfg = Config.fromfile(str(config))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if variant == 'plain':
        ours = model.backbone
        plain = PlainEMOv2(ours.arch_name, window_size=ours.window_sizes[0],
                           out_indices=ours.out_indices, drop_path_rate=0.0)
        plain.load_state_dict(ours.state_dict())
        model.backbone = plain
    return model


def detector_train_step(model: nn.Module, batch: int, size: int, device: str,
                        amp: bool = False, boxes_per_image: int = 3) -> Callable[[], None]:
    """One optimiser step of the detector (AdamW in one param group, multi-tensor update,
    gradient norm clipped at 10, as the CPU demos' schedule clips) on random images with a few
    random boxes."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=0.05, foreach=True)
    gen = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, size, size), generator=gen, dtype=torch.uint8))
        xy = torch.rand(boxes_per_image, 2, generator=gen) * size * 0.6
        wh = torch.rand(boxes_per_image, 2, generator=gen) * size * 0.3 + 8
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                             pad_shape=(size, size), scale_factor=(1.0, 1.0)))
        sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1),
                                           labels=torch.randint(0, 4, (boxes_per_image, ), generator=gen))
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=True)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            losses = model.loss(data['inputs'], data['data_samples'])
        loss, _ = model.parse_losses(losses)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10)
        optimizer.step()
    return step


def torch_depthwise(model: nn.Module) -> None:
    """Leave ``model``'s EMOv2 depthwise convolutions to PyTorch's kernels: oneDNN's weight
    gradient, bfloat16 under CPU autocast (the form before
    :class:`~emo_mm.models.layers.ConvNormAct` used emo_mm's kernel and float32)."""
    from emo_mm.models.layers import ConvNormAct
    for module in model.modules():
        if isinstance(module, ConvNormAct):
            module.depthwise = False


def _autocast(device: str, amp: bool):
    dtype: Optional[torch.dtype] = torch.float16 if device.startswith('cuda') else torch.bfloat16
    return torch.autocast(device_type=device.split(':')[0], dtype=dtype, enabled=amp)
