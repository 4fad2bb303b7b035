"""EMOv2 resolves under mmdet / mmseg / mmpretrain; the mmpretrain classifier form equals the
official classifier math; parameter and FLOP figures of the whole classifier."""
import pytest
import torch
from mmengine.registry import DefaultScope, init_default_scope
from reference import randomize_
from helpers import assert_gives_official_logits, official_state_dict

from emo_mm.analysis import count_flops, count_params
from emo_mm.checkpoint import load_model
from emo_mm.models import EMOv2


def build_in_scope(scope: str, cfg: dict):
    registry = {
        'mmdet': 'mmdet.registry',
        'mmseg': 'mmseg.registry',
        'mmpretrain': 'mmpretrain.registry',
    }[scope]
    models = __import__(registry, fromlist=['MODELS']).MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return models.build(cfg)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_emov2_resolves_under_each_scope(scope):
    model = build_in_scope(scope, dict(type='EMOv2', arch='1m', out_indices=(1, 2, 3, 4)))
    assert isinstance(model, EMOv2)
    assert model.out_indices == (1, 2, 3, 4)


def test_emov2_inside_each_task_model():
    init_default_scope('mmdet')
    from mmdet.registry import MODELS as DET
    det = DET.build(dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor'),
        backbone=dict(type='EMOv2', arch='1m', window_size=10, out_indices=(1, 2, 3, 4)),
        neck=dict(type='FPN', in_channels=[32, 48, 80, 180], out_channels=32, start_level=1,
                  add_extra_convs='on_input', num_outs=5),
        bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=32, feat_channels=32, stacked_convs=1,
                       anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                                             ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]),
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True),
                       loss_bbox=dict(type='L1Loss'))))
    assert isinstance(det.backbone, EMOv2)
    init_default_scope('mmseg')
    from mmseg.registry import MODELS as SEG
    seg = SEG.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='EMOv2', arch='1m', window_size=10, out_indices=(1, 2, 3, 4)),
        decode_head=dict(type='FCNHead', in_channels=180, in_index=3, channels=16, num_convs=1,
                         num_classes=3)))
    assert isinstance(seg.backbone, EMOv2)
    with torch.no_grad():
        out = seg.eval()(torch.randn(1, 3, 64, 64), mode='tensor')
    assert out.shape == (1, 3, 2, 2)


def build_classifier(arch: str, num_classes: int = 1000, window_size: int = 7):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='EMOv2', arch=arch, window_size=window_size, final_norm=True),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=EMOv2(arch).embed_dims[-1])))
    return model.eval()


CLASSIFIER_FIGURES = [
    # arch, window, input, params, FLOPs (M, fvcore convention)
    ('1m', 7, 224, 1_460_844, 284.8),
    ('2m', 7, 224, 2_384_312, 487.5),
    ('5m', 7, 224, 5_126_440, 1035.5),
    ('20m', 7, 224, 20_195_208, 4017.2),
    ('5m', 8, 512, 5_126_440, 5627.3),
]


@pytest.mark.parametrize('arch,window,size,params,mflops', CLASSIFIER_FIGURES)
def test_classifier_params_and_flops(arch, window, size, params, mflops):
    model = build_classifier(arch, window_size=window)
    assert count_params(model) == params
    flops = count_flops(model, (1, 3, size, size)) / 1e6
    assert flops == pytest.approx(mflops, rel=5e-3)


def test_official_checkpoint_gives_official_logits(tmp_path):
    sd = official_state_dict('1m', num_classes=1000)
    path = tmp_path / 'EMOv2_1M_224.pth'
    torch.save(sd, path)
    model = build_classifier('1m')
    load_model(model, str(path))
    assert_gives_official_logits(model, sd)


def test_backbone_final_norm_only_changes_last_output():
    plain = randomize_(EMOv2('1m', out_indices=(3, 4)))
    normed = EMOv2('1m', out_indices=(3, 4), final_norm=True)
    normed.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = plain.eval()(x), normed.eval()(x)
    assert torch.equal(a[0], b[0])
    assert not torch.allclose(a[1], b[1])
