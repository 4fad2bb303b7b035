"""Two-stage heads read the right features from EMOv2's maps.

mmcv's C++ ``RoIAlign`` indexes its input as raw NCHW memory: given a channels-last map it
returns wrong features without an error (measured: max difference 2.0 on unit-variance
inputs). EMOv2 runs channels-last inside, so the Mask R-CNN demo's RoI heads learned from
scrambled features (bbox mAP 0.004 after 640 iterations while its RPN had converged) until the
backbone returned NCHW-contiguous maps.
"""
import pytest
import torch
import torchvision
from mmcv.ops import RoIAlign

from emo_mm.models import EMOv2


@pytest.mark.parametrize('channels_last', [True, False])
def test_roi_align_on_backbone_maps_equals_a_layout_agnostic_reference(channels_last):
    torch.manual_seed(0)
    backbone = EMOv2('1m', out_indices=(2, 3), drop_path_rate=0.0, layer_scale_init_value=1.0,
                     channels_last=channels_last)
    backbone.eval()
    with torch.no_grad():
        maps = backbone(torch.randn(2, 3, 96, 128))
    rois = torch.tensor([[0, 4.0, 6.0, 60.0, 50.0], [1, 30.0, 10.0, 90.0, 80.0],
                         [1, 0.0, 0.0, 127.0, 95.0]])
    for stride, fmap in zip((8, 16), maps):
        ours = RoIAlign(7, 1.0 / stride, 2)(fmap, rois)
        # torchvision's roi_align handles any memory format.
        reference = torchvision.ops.roi_align(fmap, rois, 7, 1.0 / stride, 2, aligned=True)
        error = (ours - reference).abs().max() / reference.abs().max()
        assert error <= 1e-6, f'stride {stride}: RoI features off by {error:.3g} of their maximum'
        assert fmap.is_contiguous(), f'stride-{stride} map is not NCHW-contiguous'
