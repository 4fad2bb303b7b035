"""Every detection config loads, builds on CPU, has the paper's parameter count, and agrees
with the backbone's arch table."""
import glob
import os

import pytest
import torch
from helpers import REPO_ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope

import emo_mm.det  # noqa: F401
from emo_mm.analysis import count_params
from emo_mm.models import EMOv2

DET_CONFIGS = sorted(os.path.relpath(p, REPO_ROOT) for p in glob.glob(str(REPO_ROOT / 'configs/det/**/*.py'),
                                                                        recursive=True)
                     if '/_base_/' not in p and '/compare/' not in p)  # compare/: own test

# Paper's full-detector parameter counts (millions), COCO (80 classes).
PAPER_PARAMS = {
    'retinanet_emov2_1m': 10.5, 'retinanet_emov2_2m': 11.5, 'retinanet_emov2_5m': 14.4,
    'retinanet_emov2_20m': 29.8,
    'ssdlite_emov2_1m_320': 2.4, 'ssdlite_emov2_2m_320': 3.3, 'ssdlite_emov2_5m_320': 6.0,
    'ssdlite_emov2_20m_320': 21.2,
    'ssdlite_emov2_1m_512': 2.4, 'ssdlite_emov2_2m_512': 3.3, 'ssdlite_emov2_5m_512': 6.0,
    'ssdlite_emov2_20m_512': 21.2,
    'mask_rcnn_emov2_1m': 21.2, 'mask_rcnn_emov2_2m': 22.1, 'mask_rcnn_emov2_5m': 24.8,
    'mask_rcnn_emov2_20m': 39.8,
}


def build(cfg):
    init_default_scope('mmdet')
    from mmdet.registry import MODELS
    return MODELS.build(cfg.model)


def load(path):
    return Config.fromfile(str(REPO_ROOT / path))


def test_every_paper_config_exists():
    names = {os.path.splitext(os.path.basename(p))[0] for p in DET_CONFIGS}
    assert set(PAPER_PARAMS) <= names


@pytest.mark.parametrize('path', DET_CONFIGS)
def test_config_builds_on_cpu(path):
    cfg = load(path)
    assert 'emo_mm' in cfg.custom_imports['imports']
    model = build(cfg)
    backbone = model.backbone
    assert isinstance(backbone, EMOv2)
    neck_in = cfg.model.neck.in_channels
    # The neck widths stated in the config must be the arch table's widths.
    assert list(neck_in) == [backbone.embed_dims[i - 1] for i in backbone.out_indices]
    name = os.path.splitext(os.path.basename(path))[0]
    if name in PAPER_PARAMS:
        assert backbone.window_sizes == (10, 10, 10, 10)
        assert count_params(model) / 1e6 == pytest.approx(PAPER_PARAMS[name], rel=0.02)


@pytest.mark.parametrize('name,out_indices,frozen,norm_eval', [
    ('retinanet_emov2_5m', (1, 2, 3, 4), 1, True),
    ('mask_rcnn_emov2_2m', (1, 2, 3, 4), 1, True),
    ('ssdlite_emov2_1m_320', (3, 4), -1, True),
])
def test_recipe_backbone_settings(name, out_indices, frozen, norm_eval):
    backbone = load(f'configs/det/{name}.py').model.backbone
    assert tuple(backbone.out_indices) == out_indices
    assert backbone.frozen_stages == frozen and backbone.norm_eval == norm_eval
    assert 'drop_path_rate' not in backbone          # taken from the arch table


def test_recipe_optimisation():
    cfg = load('configs/det/retinanet_emov2_5m.py')
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 2e-4
    assert cfg.optim_wrapper.clip_grad.max_norm == 0.1
    assert cfg.train_cfg.max_epochs == 12
    ssd = load('configs/det/ssdlite_emov2_5m_512.py')
    assert ssd.optim_wrapper.optimizer.lr == pytest.approx(2.4e-3)
    assert ssd.train_cfg.max_epochs == 120
    resize = [t for t in ssd.train_dataloader.dataset.dataset.pipeline if t.type == 'Resize'][0]
    assert resize.scale == (512, 512)
    assert ssd.model.bbox_head.anchor_generator.min_sizes == [48, 100, 150, 202, 253, 304]


def test_missing_backbone_checkpoint_says_what_to_do():
    model = build(load('configs/det/retinanet_emov2_1m.py'))
    with pytest.raises(FileNotFoundError, match=r"checkpoints/EMOv2_1M_224\.pth.*init_cfg=None"):
        model.init_weights()


def test_fixed_ssd_head_predicts():
    cfg = load('configs/det/ssdlite_emov2_1m_320.py')
    cfg.model.bbox_head.num_classes = 4
    model = build(cfg).eval()
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(img_shape=(320, 320), ori_shape=(320, 320), scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        results = model.predict(torch.randn(1, 3, 320, 320), [sample])
    assert results[0].pred_instances.bboxes.shape[1] == 4
