"""Every segmentation config loads and builds on CPU, its heads agree with the backbone's
widths, the ADE20K models have the paper's parameter counts, and the recipes say what the
paper's recipes say (docs/segmentation.md)."""
import glob
import os
from functools import lru_cache

import pytest
from helpers import REPO_ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope

import emo_mm.seg  # noqa: F401
from emo_mm.analysis import count_params
from emo_mm.models import EMOv2

SEG_CONFIGS = sorted(os.path.relpath(p, REPO_ROOT) for p in glob.glob(str(REPO_ROOT / 'configs/seg/**/*.py'),
                                                                        recursive=True)
                     if '/_base_/' not in p and '/compare/' not in p)  # compare/: own test
SIZES = ('1m', '2m', '5m', '20m')
FAMILIES = ('deeplabv3', 'pspnet', 'fpn', 'segformer')
# Paper's ADE20K parameter counts (millions, 150 classes), 1M / 2M / 5M / 20M.
PAPER_PARAMS = {
    f'{family}_emov2_{size}_ade20k_512': value
    for family, values in (('deeplabv3', (5.6, 6.6, 9.9, 26.0)), ('pspnet', (4.2, 5.2, 8.1, 23.6)),
                           ('fpn', (5.3, 6.2, 8.9, 23.9)), ('segformer', (1.4, 2.6, 5.3, 20.4)))
    for size, value in zip(SIZES, values)
}
# More than 2% above the paper's figure although they are the paper's models: the paper
# truncates to 0.1M (1.499M -> "1.4M", see test_paper_counts_are_truncated_get_flops_output).
TRUNCATION_OFF_BY_MORE_THAN_2PCT = {'segformer_emov2_1m_ade20k_512', 'segformer_emov2_2m_ade20k_512'}


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


@lru_cache(maxsize=None)
def load(path: str) -> Config:
    return Config.fromfile(str(REPO_ROOT / path))


@lru_cache(maxsize=None)
def build(path: str):
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    return MODELS.build(load(path).model)


def paper_params(model) -> int:
    """What the paper reports: mmseg's tools/analysis_tools/get_flops.py drops the auxiliary
    head (training only) before counting."""
    aux = model.auxiliary_head if getattr(model, 'with_auxiliary_head', False) else None
    return count_params(model) - (count_params(aux) if aux is not None else 0)


def expected_head_inputs(head_cfg, feature_channels):
    """Channels a head must take, given the channels of the features it is fed."""
    index = head_cfg.in_index
    if isinstance(index, int):
        return feature_channels[index]
    return [feature_channels[i] for i in index]


def test_every_paper_config_exists():
    assert set(PAPER_PARAMS) <= {stem(p) for p in SEG_CONFIGS}
    assert 'configs/seg/demo/deeplabv3_emov2_1m_shapes.py' in SEG_CONFIGS


@pytest.mark.parametrize('path', SEG_CONFIGS)
def test_config_builds_on_cpu(path):
    cfg = load(path)
    assert cfg.default_scope == 'mmseg'
    assert {'emo_mm', 'emo_mm.seg'} <= set(cfg.custom_imports['imports'])
    model = build(path)
    backbone = model.backbone
    assert isinstance(backbone, EMOv2)
    features = list(backbone.out_channels)
    if 'neck' in cfg.model:
        assert list(cfg.model.neck.in_channels) == features
        features = [cfg.model.neck.out_channels] * cfg.model.neck.num_outs
    assert cfg.model.decode_head.in_channels == expected_head_inputs(cfg.model.decode_head, features)
    if 'auxiliary_head' in cfg.model:
        aux = cfg.model.auxiliary_head
        assert aux.in_channels == expected_head_inputs(aux, features)
        assert aux.num_classes == cfg.model.decode_head.num_classes
    # --show-dir of tools/test.py paints predictions through these two.
    assert cfg.visualizer.type == 'SegLocalVisualizer'
    assert any(b.type == 'LocalVisBackend' for b in cfg.visualizer.vis_backends)
    assert cfg.default_hooks.visualization.type == 'SegVisualizationHook'


@pytest.mark.parametrize('name', sorted(set(PAPER_PARAMS) - TRUNCATION_OFF_BY_MORE_THAN_2PCT))
def test_params_match_paper(name):
    count = paper_params(build(f'configs/seg/{name}.py')) / 1e6
    assert count == pytest.approx(PAPER_PARAMS[name], rel=0.02)


@pytest.mark.parametrize('name', sorted(TRUNCATION_OFF_BY_MORE_THAN_2PCT))
def test_small_segformer_rows_differ_from_the_paper_by_truncation_only(name):
    """SegFormer-1M/2M: 1.499M / 2.676M, printed by the paper as 1.4M / 2.6M (cut, not
    rounded), which is more than 2% off; within the paper's 0.1M digit they agree."""
    count = paper_params(build(f'configs/seg/{name}.py')) / 1e6
    assert PAPER_PARAMS[name] * 1.02 < count < PAPER_PARAMS[name] + 0.1


@pytest.mark.parametrize('name', sorted(PAPER_PARAMS))
def test_paper_counts_are_truncated_get_flops_output(name):
    """The paper's figure is get_flops' count (no auxiliary head, printed as e.g. '1.499M')
    cut after the first decimal -- the convention that also turns the 1.461M ImageNet
    EMOv2-1M into '1.4M'. It holds for every one of the 16 rows."""
    printed_thousands = round(paper_params(build(f'configs/seg/{name}.py')) / 1e3)
    assert printed_thousands // 100 == round(PAPER_PARAMS[name] * 10)


def test_paper_counts_exclude_the_auxiliary_head():
    model = build('configs/seg/deeplabv3_emov2_1m_ade20k_512.py')
    assert count_params(model) / 1e6 > 5.6 * 1.02      # 5.83M with the training-only FCN head
    assert paper_params(model) / 1e6 == pytest.approx(5.6, rel=0.02)


@pytest.mark.parametrize('name', sorted(PAPER_PARAMS))
def test_recipe(name):
    cfg = load(f'configs/seg/{name}.py')
    family, size = name.split('_')[0], name.split('_')[2]
    backbone = cfg.model.backbone
    assert backbone.type == 'EMOv2' and backbone.arch == size
    assert backbone.window_size == 10
    assert tuple(backbone.out_indices) == (1, 2, 3, 4)
    assert backbone.frozen_stages == -1 and not backbone.norm_eval
    assert 'drop_path_rate' not in backbone            # taken from the arch table
    assert backbone.init_cfg == dict(type='Pretrained',
                                     checkpoint=f'checkpoints/EMOv2_{size.upper()}_224.pth')
    assert cfg.model.decode_head.num_classes == 150
    assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'
    assert cfg.model.data_preprocessor.size == (512, 512)
    assert cfg.train_dataloader.batch_size == 8 and cfg.auto_scale_lr.base_batch_size == 32
    assert cfg.train_dataloader.dataset.type == 'ADE20KDataset'
    assert cfg.train_dataloader.dataset.data_root == 'data/ade/ADEChallengeData2016'
    crop = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomCrop'][0]
    assert crop.crop_size == (512, 512)

    optim = cfg.optim_wrapper
    assert optim.optimizer.type == 'AdamW'
    assert optim.optimizer.lr == pytest.approx(1.2e-4)
    assert optim.optimizer.weight_decay == 0.05
    assert optim.paramwise_cfg.custom_keys['norm'] == dict(decay_mult=0.0)
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and cosine.type == 'CosineAnnealingLR'
    iters = cfg.train_cfg.max_iters
    assert (cosine.begin, cosine.end) == (iters // 2, iters)
    if family in ('deeplabv3', 'pspnet'):
        assert optim.clip_grad == dict(max_norm=0.1, norm_type=2)
        assert 'head' not in optim.paramwise_cfg.custom_keys
        assert (iters, cfg.train_cfg.val_interval) == (80000, 8000)
        assert (warmup.start_factor, warmup.end) == (1e-5, 500)
        assert cfg.model.decode_head.in_index == 3 and cfg.model.decode_head.channels == 256
        assert cfg.model.auxiliary_head.in_index == 2
        assert cfg.model.auxiliary_head.loss_decode.loss_weight == 0.4
    else:
        assert optim.get('clip_grad') is None
        assert optim.paramwise_cfg.custom_keys['head'] == dict(lr_mult=10.0)
        assert (iters, cfg.train_cfg.val_interval) == (160000, 16000)
        assert (warmup.start_factor, warmup.end) == (1e-6, 1500)
        assert 'auxiliary_head' not in cfg.model
    assert cfg.default_hooks.checkpoint.interval == cfg.train_cfg.val_interval
    if family == 'segformer':
        assert cfg.model.decode_head.channels == (180 if size == '1m' else 288)


def test_demo_predicts_every_shapes_class():
    from emo_mm.datasets import SHAPES_SEG_CLASSES
    cfg = load('configs/seg/demo/deeplabv3_emov2_1m_shapes.py')
    assert cfg.train_dataloader.dataset.type == 'ShapesSegDataset'
    assert cfg.model.decode_head.num_classes == len(SHAPES_SEG_CLASSES) == 5
    assert cfg.model.auxiliary_head.num_classes == 5
    assert cfg.model.backbone.init_cfg is None          # from scratch


def test_ade20k_root_from_environment(monkeypatch):
    monkeypatch.setenv('ADE20K_ROOT', '/datasets/ade')
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/seg/fpn_emov2_5m_ade20k_512.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.data_root == '/datasets/ade'


def test_head_lr_multiplier_reaches_the_heads_only():
    from mmengine.optim import build_optim_wrapper
    path = 'configs/seg/segformer_emov2_1m_ade20k_512.py'
    model = build(path)
    wrapper = build_optim_wrapper(model, load(path).optim_wrapper)
    lrs = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            lrs[id(param)] = group['lr']
    for name, param in model.named_parameters():
        expected = 1.2e-3 if name.startswith('decode_head.') else 1.2e-4
        assert lrs[id(param)] == pytest.approx(expected), name


def test_missing_backbone_checkpoint_says_what_to_do():
    init_default_scope('mmseg')
    from mmseg.registry import MODELS
    model = MODELS.build(load('configs/seg/pspnet_emov2_1m_ade20k_512.py').model)
    with pytest.raises(FileNotFoundError, match=r"checkpoints/EMOv2_1M_224\.pth.*init_cfg=None"):
        model.init_weights()
