"""Classification configs: every one loads and builds; the official ImageNet recipe (lr scaling,
weight-decay groups, EMA, label smoothing, augmentation, test resize); KD loss math; official
checkpoints load strictly through mmengine."""
import functools
import glob
import math
import os
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from helpers import REPO_ROOT, assert_gives_official_logits, official_state_dict
from torch.nn.modules.batchnorm import _BatchNorm

import emo_mm.cls  # noqa: F401
from emo_mm.checkpoint import CheckpointMismatchError
from emo_mm.cls import EMOv2Classifier, KDImageClassifier, soft_kd_loss
from emo_mm.models import EMOv2

CLS_CONFIGS = sorted(os.path.relpath(p, REPO_ROOT)
                     for p in glob.glob(str(REPO_ROOT / 'configs/cls/**/*.py'), recursive=True)
                     if '/_base_/' not in p and '/compare/' not in p)  # compare/: own test
IN1K_CONFIGS = [p for p in CLS_CONFIGS if '/demo/' not in p and '/custom/' not in p]
TINY_TEACHER = dict(
    type='ImageClassifier',
    backbone=dict(type='EMOv2', arch=dict(depths=(1, 1, 1, 1), embed_dims=(8, 8, 16, 16),
                                          exp_ratios=(2, 2, 2, 2), head_dims=(8, 8, 8, 8)),
                  final_norm=True),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=16))


@functools.lru_cache(maxsize=None)
def load(path: str) -> Config:
    return Config.fromfile(str(REPO_ROOT / path))


def build(model_cfg):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    return MODELS.build(model_cfg)


def name_of(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def test_paper_configs_exist():
    names = {name_of(p) for p in CLS_CONFIGS}
    expected = {f'emov2_{a}_in1k_224' for a in ('1m', '2m', '5m', '20m')}
    expected |= {f'emov2_{a}_in1k_224_kd' for a in ('1m', '2m', '5m')}
    expected |= {'emov2_5m_in1k_512', 'emov2_5m_in1k_512_kd', 'emov2_1m_in1k_256',
                 'emov2_20m_in1k_256'}
    assert expected <= names


@pytest.mark.parametrize('path', CLS_CONFIGS)
def test_config_builds_on_cpu(path):
    cfg = load(path)
    assert {'emo_mm', 'emo_mm.cls'} <= set(cfg.custom_imports['imports'])
    assert cfg.default_scope == 'mmpretrain'
    model_cfg = cfg.model.copy()
    if 'teacher' in model_cfg and path != 'configs/cls/emov2_5m_in1k_224_kd.py':
        model_cfg.teacher = TINY_TEACHER   # the ConvNeXt-B teacher is built once, below
    model = build(model_cfg)
    assert isinstance(model, EMOv2Classifier)
    backbone = model.backbone
    assert isinstance(backbone, EMOv2) and backbone.final_norm
    assert cfg.model.head.in_channels == backbone.embed_dims[-1]
    if path in IN1K_CONFIGS:
        size = int(name_of(path).split('_')[3])
        assert backbone.window_sizes == ((7, ) * 4 if size == 224 else (8, ) * 4)
        assert cfg.model.head.num_classes == 1000
        assert cfg.train_dataloader.dataset.type == 'ImageNet'
        assert cfg.train_dataloader.dataset.data_root == 'data/imagenet'
    if 'teacher' in cfg.model:
        assert isinstance(model, KDImageClassifier)
        assert model.kd_loss_weight == 5.0 and model.tau == 1.0
        assert model.teacher_input_size == (224 if path in IN1K_CONFIGS else None)


def optimizer_groups(path: str):
    """(model, {parameter name: weight decay}) of the built optimizer."""
    from mmengine.optim import build_optim_wrapper
    cfg = load(path)
    model = build(cfg.model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)]: group['weight_decay'] for group in wrapper.optimizer.param_groups
             for p in group['params']}
    return model, wrapper, decay


def test_weight_decay_spares_norms_biases_and_layer_scale():
    model, wrapper, decay = optimizer_groups('configs/cls/emov2_1m_in1k_224.py')
    assert type(wrapper.optimizer).__name__ == 'AdamW'
    defaults = wrapper.optimizer.defaults
    assert defaults['betas'] == (0.9, 0.999) and defaults['eps'] == 1e-8
    assert set(decay) == {n for n, _ in model.named_parameters()}
    norm_params = {f'{m}.{p}' for m, module in model.named_modules()
                   if isinstance(module, (_BatchNorm, torch.nn.LayerNorm))
                   for p, _ in module.named_parameters(recurse=False)}
    gammas = [n for n in decay if n.endswith('.ls.gamma')]
    assert len(gammas) == sum(model.backbone.arch['depths'])
    for name, param in model.named_parameters():
        no_decay = name in norm_params or name.endswith('.bias') or name.endswith('.gamma')
        assert no_decay == (param.ndim == 1 or name.endswith('.gamma'))
        assert decay[name] == (0.0 if no_decay else 0.05), name
    assert decay['head.fc.weight'] == decay['backbone.stage3.1.eops.0.qk.conv.weight'] == 0.05


@pytest.mark.parametrize('batch_size,gpus', [(128, 8), (128, 4), (256, 8)])
def test_lr_is_1_5e_3_per_512_images(batch_size, gpus):
    """lr at the config batch (1024), and under --auto-scale-lr: 1.5e-3 x batch / 512."""
    path = 'configs/cls/emov2_5m_in1k_224.py'
    cfg = load(path)
    assert cfg.train_dataloader.batch_size * 8 == 1024
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(3e-3)
    model, wrapper, _ = optimizer_groups(path)
    runner = SimpleNamespace(_train_dataloader=dict(batch_size=batch_size), world_size=gpus,
                             logger=MMLogger.get_current_instance(), param_schedulers=None)
    Runner.scale_lr(runner, wrapper, dict(cfg.auto_scale_lr, enable=True))
    lrs = [group['lr'] for group in wrapper.optimizer.param_groups]
    assert lrs == [pytest.approx(1.5e-3 * batch_size * gpus / 512)] * len(lrs)


def test_schedule_warmup_cosine_per_iteration():
    cfg = load('configs/cls/emov2_2m_in1k_224.py')
    warmup, cosine = cfg.param_scheduler
    assert cfg.train_cfg.max_epochs == 300
    assert (warmup.type, warmup.begin, warmup.end) == ('LinearLR', 0, 20)
    assert (cosine.type, cosine.begin, cosine.end) == ('CosineAnnealingLR', 20, 300)
    assert warmup.convert_to_iter_based and cosine.convert_to_iter_based
    assert warmup.start_factor * cfg.optim_wrapper.optimizer.lr == pytest.approx(2.5e-7)
    assert cosine.eta_min == pytest.approx(2.5e-7)
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=5.0, norm_type=2)
    assert cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'  # AMP: --amp
    assert cfg.randomness.seed == 42
    ft = load('configs/cls/emov2_5m_in1k_512.py')
    assert ft.train_cfg.max_epochs == 30 and ft.param_scheduler[0].end == 5
    assert ft.optim_wrapper.optimizer.lr == pytest.approx(5e-4)
    assert ft.optim_wrapper.optimizer.weight_decay == 1e-8
    assert ft.load_from == 'checkpoints/EMOv2_5M_224.pth'


def test_ema_every_iteration_with_momentum_2e_4():
    from mmpretrain.registry import HOOKS
    cfg = load('configs/cls/emov2_1m_in1k_224.py')
    (hook_cfg, ) = [h for h in cfg.custom_hooks if 'EMA' in h.type]
    assert hook_cfg.momentum == pytest.approx(1 - 0.9998)
    assert hook_cfg.evaluate_on_ema and hook_cfg.evaluate_on_origin and hook_cfg.update_buffers
    hook = HOOKS.build({k: v for k, v in hook_cfg.items() if k != 'priority'})  # as the runner
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    runner = SimpleNamespace(model=model, iter=0, epoch=0)
    hook.before_run(runner)
    hook.after_train_iter(runner, 0)  # first update copies the weights
    before = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.add_(1.0)
    for i in (1, 2):
        runner.iter = i
        hook.after_train_iter(runner, i)
    ema = hook.ema_model.module
    expected = 1 - (1 - hook_cfg.momentum)**2
    torch.testing.assert_close(ema[0].weight - before, torch.full_like(before, expected))
    torch.testing.assert_close(ema[1].running_mean, torch.full((2, ), expected))


def test_label_smoothing_and_no_batch_mixing():
    cfg = load('configs/cls/emov2_5m_in1k_224.py')
    assert cfg.model.head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1,
                                       mode='original')
    assert not cfg.model.get('train_cfg')  # no mixup / cutmix
    model = build(cfg.model)
    assert model.head.loss_module.label_smooth_val == 0.1


def transform_types(pipeline) -> list:
    return [t.type for t in pipeline]


@pytest.mark.parametrize('size,resize', [(224, 256), (256, 292), (512, 585)])
def test_augmentation_and_test_resize(size, resize):
    from mmpretrain.registry import TRANSFORMS
    path = {224: 'configs/cls/emov2_5m_in1k_224.py', 256: 'configs/cls/emov2_5m_in1k_256.py',
            512: 'configs/cls/emov2_5m_in1k_512.py'}[size]
    cfg = load(path)
    train = cfg.train_dataloader.dataset.pipeline
    assert transform_types(train) == ['LoadImageFromFile', 'RandomChoice', 'RandomFlip',
                                      'RandAugment', 'PackInputs']   # no RandomErasing
    crops = [choice[0] for choice in train[1].transforms]
    assert {(c.type, c.scale, c.interpolation) for c in crops} == {
        ('RandomResizedCrop', size, 'bilinear'), ('RandomResizedCrop', size, 'bicubic')}
    rand_augment = train[3]
    assert rand_augment.policies == 'timm_increasing'
    assert (rand_augment.num_policies, rand_augment.total_level) == (2, 10)
    assert (rand_augment.magnitude_level, rand_augment.magnitude_std) == (9, 0.5)
    test = cfg.test_dataloader.dataset.pipeline
    assert transform_types(test) == ['LoadImageFromFile', 'ResizeEdge', 'CenterCrop',
                                     'PackInputs']
    assert (test[1].scale, test[1].edge, test[1].interpolation) == (resize, 'short', 'bicubic')
    assert test[2].crop_size == size
    assert cfg.val_dataloader.dataset.pipeline == test
    init_default_scope('mmpretrain')
    image = np.random.randint(0, 255, (300, 400, 3), dtype=np.uint8)
    for pipeline in (train, test):
        out = {'img': image}
        for step in pipeline[1:-1]:
            out = TRANSFORMS.build(step)(out)
        assert out['img'].shape == (size, size, 3)


# ----------------------------------------------------------------- knowledge distillation
def test_soft_kd_loss_matches_hand_formula():
    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    teacher = torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    for tau in (1.0, 2.0):
        expected = 0.0
        for s, t in zip(student.tolist(), teacher.tolist()):
            zs = sum(math.exp(v / tau) for v in s)
            zt = sum(math.exp(v / tau) for v in t)
            for vs, vt in zip(s, t):
                ps, pt = math.exp(vs / tau) / zs, math.exp(vt / tau) / zt
                expected += pt * (math.log(pt) - math.log(ps))
        expected *= tau**2 / len(student)
        assert soft_kd_loss(student, teacher, tau).item() == pytest.approx(expected, rel=1e-5)
    assert soft_kd_loss(teacher, teacher).item() == pytest.approx(0.0, abs=1e-6)


@pytest.fixture
def kd_student():
    cfg = load('configs/cls/emov2_1m_in1k_224_kd.py')
    model_cfg = cfg.model.copy()
    model_cfg.update(data_preprocessor=cfg.data_preprocessor,  # the runner adds it likewise
                     teacher=TINY_TEACHER, teacher_checkpoint=None, teacher_input_size=24,
                     teacher_mean=(0.5, 0.4, 0.3), teacher_std=(0.2, 0.25, 0.3), tau=2.0)
    return build(model_cfg)


def test_kd_classifier_loss_and_frozen_teacher(kd_student):
    from mmpretrain.structures import DataSample
    model = kd_student
    model.init_weights()
    model.train()
    teacher = model.teacher
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert not any(k.startswith('teacher') for k in model.state_dict())
    assert len(list(model.parameters())) == len(list(model.backbone.parameters())) + 2
    raw = torch.rand(2, 3, 32, 32) * 255   # RGB 0-255, as the data preprocessor sees it
    pre = model.data_preprocessor
    inputs = (raw - pre.mean) / pre.std
    samples = [DataSample().set_gt_label(1), DataSample().set_gt_label(7)]
    losses = model.loss(inputs, samples)
    # teacher input by hand: [0, 1] -> bicubic to 24 -> teacher normalisation
    images = F.interpolate(raw / 255, size=(24, 24), mode='bicubic', align_corners=False)
    images = (images - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / \
        torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    with torch.no_grad():
        t_logits = teacher(images, mode='tensor')
    s_logits = model(inputs, mode='tensor')
    expected = 5.0 * soft_kd_loss(s_logits, t_logits, tau=2.0)
    torch.testing.assert_close(losses['loss_kd'], expected, rtol=1e-4, atol=1e-5)
    assert set(losses) == {'loss_cls', 'loss_kd'}
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert model.backbone.stage0[0].conv.weight.grad is not None
    copy = __import__('copy').deepcopy(model)   # the EMA copy shares the teacher
    assert copy.teacher is teacher


def test_kd_teacher_checkpoint_is_loaded_strictly(tmp_path, kd_student):
    teacher = build(TINY_TEACHER)
    path = tmp_path / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, path)
    kd_student.teacher_checkpoint = str(path)
    kd_student.init_weights()
    for key, value in teacher.state_dict().items():
        assert torch.equal(kd_student.teacher.state_dict()[key], value)
    state = teacher.state_dict()
    del state['head.fc.bias']
    torch.save({'state_dict': state}, path)
    with pytest.raises(RuntimeError, match='head.fc.bias'):
        kd_student.init_weights()


def test_missing_kd_teacher_checkpoint_says_where_to_put_it(tmp_path, kd_student):
    kd_student.teacher_checkpoint = str(tmp_path / 'teacher.pth')
    with pytest.raises(FileNotFoundError, match=r'teacher\.pth not found.*model\.teacher_checkpoint'):
        kd_student.init_weights()
    cfg = load('configs/cls/emov2_5m_in1k_224_kd.py')
    assert cfg.model.teacher_checkpoint.startswith('checkpoints/')   # never downloaded


# ----------------------------------------------------------------- official checkpoints
def test_official_checkpoint_loads_through_mmengine(tmp_path):
    model = build(load('configs/cls/emov2_1m_in1k_224.py').model).eval()
    sd = official_state_dict('1m', num_classes=1000)
    path = tmp_path / 'EMOv2_1M_224.pth'
    torch.save(sd, path)
    load_checkpoint(model, str(path), map_location='cpu')
    assert_gives_official_logits(model, sd)
    # DDP-prefixed official files too (mmengine strips `module.` first)
    ddp = OrderedDict(('module.' + k, torch.zeros_like(v)) for k, v in sd.items())
    torch.save(ddp, path)
    load_checkpoint(model, str(path), map_location='cpu')
    assert model.head.fc.weight.abs().sum() == 0


@pytest.mark.parametrize('change,message', [
    ('drop', r'missing keys: backbone\.stage3\.4\.eops\.0\.qk\.conv\.bias'),
    ('extra', r'unexpected keys: backbone\.stage9\.weight'),
    ('classes', r'wrong shapes: head\.fc\.weight'),
    ('trainer', r'trainer checkpoint.*emov2_official\.py'),
])
def test_bad_official_checkpoint_is_named(tmp_path, change, message):
    model = build(load('configs/cls/emov2_1m_in1k_224.py').model)
    sd = official_state_dict('1m', num_classes=10 if change == 'classes' else 1000)
    if change == 'drop':
        del sd['stage3.4.eops.0.qk.conv.bias']
    elif change == 'extra':
        sd['stage9.weight'] = torch.zeros(1)
    obj = {'net': sd, 'net_E': sd} if change == 'trainer' else sd
    path = tmp_path / 'bad.pth'
    torch.save(obj, path)
    with pytest.raises(CheckpointMismatchError, match=message):
        load_checkpoint(model, str(path), map_location='cpu')
