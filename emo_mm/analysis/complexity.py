"""Parameter and FLOP counting (one multiply-add = one FLOP, as fvcore and mmengine count)."""
from typing import Any, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape

from emo_mm.models.attention import WindowAttention


def count_params(model: nn.Module) -> int:
    """Number of parameters (buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def _sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::scaled_dot_product_attention``: ``q @ k^T`` plus ``attn @ v``."""
    q, k, v = (get_shape(t) for t in inputs[:3])
    batch = 1
    for dim in q[:-2]:
        batch *= dim
    n_q, d_qk = q[-2], q[-1]
    n_k, d_v = k[-2], v[-1]
    return batch * n_q * n_k * (d_qk + d_v)


def count_flops(model: nn.Module, input_shape: Sequence[int] = (1, 3, 224, 224)) -> int:
    """FLOPs of one forward pass of ``model`` in eval mode on a zero tensor of ``input_shape``,
    counted by ``mmengine.analysis.FlopAnalyzer`` with attention (SDPA) included (so
    convolutions, matmuls and BatchNorm / LayerNorm count; activations, softmax and additions
    do not).

    Window attention is counted as the official code computes it: at sizes that do not divide
    into windows every padded token is attended to (emo_mm merges them, see
    :class:`emo_mm.models.attention.WindowAttention`, and so executes fewer FLOPs there)."""
    was_training = model.training
    attentions = [m for m in model.modules() if isinstance(m, WindowAttention)]
    merging = [m.merge_padding for m in attentions]
    model.eval()
    try:
        for module in attentions:
            module.merge_padding = False
        param = next(model.parameters())
        inputs = torch.zeros(*input_shape, dtype=param.dtype, device=param.device)
        analyzer = FlopAnalyzer(model, inputs)
        analyzer.set_op_handle('aten::scaled_dot_product_attention', _sdpa_flop_jit)
        analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analyzer.total())
    finally:
        model.train(was_training)
        for module, merge in zip(attentions, merging):
            module.merge_padding = merge


class TensorForward(nn.Module):
    """An OpenMMLab model (classifier, detector, segmentor) as ``images -> raw head outputs``,
    the ``mode='tensor'`` forward that the codebases' own ``get_flops`` tools count: no
    pre-processing, box decoding, NMS or resizing of the segmentation logits. Two-stage
    detectors get the image meta their RPN needs."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> Any:
        return self.model(images, self._data_samples(images), mode='tensor')

    def _data_samples(self, images: torch.Tensor) -> Optional[list]:
        if not hasattr(self.model, 'rpn_head'):
            return None
        from mmdet.structures import DetDataSample
        height, width = images.shape[-2:]
        meta = dict(img_shape=(height, width), ori_shape=(height, width),
                    pad_shape=(height, width), batch_input_shape=(height, width),
                    scale_factor=(1.0, 1.0))
        return [DetDataSample(metainfo=meta) for _ in range(images.shape[0])]


def model_complexity(model: nn.Module, input_shape: Sequence[int]) -> Tuple[int, int]:
    """``(parameters, FLOPs)`` of a built OpenMMLab model at inference: its parameters
    without the auxiliary heads that only train (mmseg's ``auxiliary_head``; the paper counts
    so), and the FLOPs of its tensor-mode forward (:class:`TensorForward`) on one image of
    ``input_shape`` ``(C, H, W)``, counted as :func:`count_flops` counts."""
    params = count_params(model)
    auxiliary = getattr(model, 'auxiliary_head', None)
    if isinstance(auxiliary, nn.Module):
        params -= count_params(auxiliary)
    return params, count_flops(TensorForward(model), (1, *input_shape))
