"""EMOv2 backbone: architecture figures, key layout, shapes, freezing, exactness vs the spec."""
import logging
import math

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from helpers import read_official_keys
from reference import plain_block, plain_window_attention, randomize_

from emo_mm.analysis import count_params
from emo_mm.models import ARCH_SETTINGS, EMOv2
from emo_mm.models.attention import WindowAttention

ALL_OUTPUTS = (0, 1, 2, 3, 4)

# Official figures: backbone without final norm/head, and the whole classifier (1000 classes).
PARAMS = {
    '1m': (1_279_484, 1_460_844),
    '2m': (2_182_912, 2_384_312),
    '5m': (4_836_864, 5_126_440),
    '20m': (19_745_312, 20_195_208),
    '50m': (49_301_536, 49_815_560),
    'emov1_1m': (1_272_956, 1_454_316),
    'emov1_2m': (2_173_440, 2_374_840),
    'emov1_5m': (4_820_736, 5_110_312),
    'emov1_20m': (19_720_736, 20_170_632),
}


def classifier_params(arch: str) -> int:
    model = EMOv2(arch, final_norm=True)
    return count_params(model) + model.embed_dims[-1] * 1000 + 1000


@pytest.mark.parametrize('arch', sorted(PARAMS))
def test_parameter_counts(arch):
    backbone, classifier = PARAMS[arch]
    assert count_params(EMOv2(arch)) == backbone
    assert classifier_params(arch) == classifier


@pytest.mark.parametrize('arch', ['1m', '2m', '5m', '20m'])
def test_key_layout_equals_official(arch):
    official = [(k, s) for k, s in read_official_keys(arch) if not k.startswith('head.')]
    ours = [(k, tuple(v.shape)) for k, v in EMOv2(arch, final_norm=True).state_dict().items()]
    assert ours == official


def test_detection_key_layout_equals_official():
    ours = [(k, tuple(v.shape)) for k, v in EMOv2('5m', window_size=10).state_dict().items()]
    assert ours == read_official_keys('det_5m')


def expected_size(size: int, index: int) -> int:
    for _ in range(index + 1):
        size = math.ceil(size / 2)
    return size


@pytest.mark.parametrize('arch', sorted(ARCH_SETTINGS))
def test_output_shapes_every_arch(arch):
    model = EMOv2(arch, out_indices=ALL_OUTPUTS).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    widths = (model.embed_dims[0] // 2, ) + model.embed_dims
    assert model.out_channels == widths
    for index, out in enumerate(outs):
        assert out.shape == (1, widths[index], expected_size(64, index), expected_size(96, index))


@pytest.mark.parametrize('out_indices', [(4, ), (1, 2, 3, 4), (3, 4), (0, 2), (2, ), (-1, ), (4, 1)])
def test_out_indices_select_and_order(out_indices):
    model = EMOv2('1m', out_indices=out_indices).eval()
    full = EMOv2('1m', out_indices=ALL_OUTPUTS).eval()
    full.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        outs, all_outs = model(x), full(x)
    assert len(outs) == len(out_indices)
    for out, index in zip(outs, out_indices):
        assert torch.equal(out, all_outs[index])


def test_feature_info():
    info = EMOv2('5m').feature_info
    assert [i['num_chs'] for i in info] == [24, 48, 72, 160, 288]
    assert [i['reduction'] for i in info] == [2, 4, 8, 16, 32]


def test_arch_as_dict_and_errors():
    custom = dict(depths=(1, 2, 2, 2), embed_dims=(16, 32, 40, 64), exp_ratios=(2, 2, 2, 2),
                  head_dims=(8, 8, 8, 8))
    model = EMOv2(custom, out_indices=(4, )).eval()
    assert model(torch.randn(1, 3, 32, 32))[0].shape == (1, 64, 1, 1)
    with pytest.raises(KeyError, match="unknown EMOv2 arch '7m'"):
        EMOv2('7m')
    with pytest.raises(KeyError, match='head_dims'):
        EMOv2(dict(depths=(1, 1, 1, 1), embed_dims=(8, 8, 8, 8), exp_ratios=(1, 1, 1, 1)))
    with pytest.raises(ValueError, match='out_indices'):
        EMOv2('1m', out_indices=(5, ))
    with pytest.raises(ValueError, match='window_size'):
        EMOv2('1m', window_size=(7, 7))
    with pytest.raises(ValueError, match='frozen_stages'):
        EMOv2('1m', frozen_stages=5)


def test_drop_path_rate_defaults_to_arch_recipe():
    model = EMOv2('5m')
    rates = [getattr(block.drop_path, 'drop_prob', 0.0) for stage in model.stages[1:] for block in stage]
    assert rates == pytest.approx(torch.linspace(0, 0.05, len(rates)).tolist())
    assert isinstance(model.stage1[0].drop_path, nn.Identity)   # rate 0: no DropPath at all
    assert EMOv2('5m', drop_path_rate=0.3).stage4[-1].drop_path.drop_prob == pytest.approx(0.3)


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 3])
def test_frozen_stages_survive_train(frozen_stages):
    model = EMOv2('1m', frozen_stages=frozen_stages, out_indices=(1, 2, 3, 4))
    model.train()
    for index, stage in enumerate(model.stages):
        frozen = index <= frozen_stages
        assert all(p.requires_grad != frozen for p in stage.parameters())
        assert all(m.training != frozen for m in stage.modules())


def test_norm_eval_keeps_batchnorm_in_eval():
    model = EMOv2('1m', norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    lns = [m for m in model.modules() if isinstance(m, nn.LayerNorm)]
    assert bns and lns
    assert not any(m.training for m in bns)
    assert all(m.training for m in lns)
    before = bns[0].running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(bns[0].running_mean, before)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_norm_eval_on_never_estimated_statistics_warns_once():
    """From scratch, frozen BatchNorm statistics make the output ignore the input (the
    SSDLite demo's collapse): training so warns once; estimated statistics do not warn."""
    records = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(records)
    try:
        model = EMOv2('1m', norm_eval=True)
        model.train()
        model.eval().train()
        assert len([m for m in records.messages if 'never estimated' in m]) == 1
        assert 'norm_eval=False' in records.messages[0]

        records.messages.clear()
        estimated = EMOv2('1m', norm_eval=True)
        estimated.train(False)
        for module in estimated.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_var.fill_(2.0)
        estimated.train()
        EMOv2('1m', norm_eval=False).train()
        assert not records.messages
    finally:
        logger.removeHandler(records)


# ------------------------------------------------------------------ exactness
ATTENTION_CASES = [
    # (height, width, window, partitions)
    (14, 14, 7, ('remote', 'close')),       # 2x2 windows
    (7, 7, 7, ('remote', 'close')),         # one window: remote == close
    (13, 17, 5, ('remote', 'close')),       # padding on both axes
    (20, 20, 7, ('remote', 'close')),       # 320-input stage 3 with window 7
    (6, 9, 10, ('remote', 'close')),        # map smaller than the window
    (12, 8, 4, ('remote', )),               # EMOv1 dilated windows only
    (12, 8, 4, ('close', )),
    (5, 6, 0, ('remote', 'close')),         # window <= 0: global attention
]


@pytest.mark.parametrize('h,w,window,partitions', ATTENTION_CASES)
def test_window_attention_matches_plain_loops(h, w, window, partitions):
    attn = WindowAttention(40, 96, head_dim=10, window_size=window, partitions=partitions)
    randomize_(attn)
    x = torch.randn(2, 40, h, w)
    with torch.no_grad():
        ours = attn(x)
        ref = plain_window_attention(x, attn.qk.conv.weight, attn.qk.conv.bias, attn.v.conv.weight,
                                     attn.v.conv.bias, attn.v.act, attn.num_heads, window, partitions)
    assert ours.shape == (2, 96, h, w)
    assert (ours - ref).abs().max().item() <= 1e-5


def test_one_window_hybrid_is_twice_global_attention():
    hybrid = randomize_(WindowAttention(32, 64, 16, window_size=7))
    single = WindowAttention(32, 64, 16, window_size=7, partitions=('close', ))
    single.load_state_dict(hybrid.state_dict())
    x = torch.randn(1, 32, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(hybrid(x), 2 * single(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize('arch,size,window', [('1m', 96, 7), ('2m', 72, 3), ('emov1_1m', 80, 4)])
def test_backbone_matches_plain_blocks(arch, size, window):
    """Whole network, block by block, vs the spec's statements (non-trivial weights/statistics)."""
    model = randomize_(EMOv2(arch, window_size=window, out_indices=ALL_OUTPUTS)).eval()
    x = torch.randn(2, 3, size, size + 8)
    with torch.no_grad():
        outs = model(x)
        ref, refs = x, []
        for stem_layer in model.stage0:
            ref = stem_layer(ref)
        refs.append(ref)
        for stage in model.stages[1:]:
            for block in stage:
                ref = plain_block(block, ref)
            refs.append(ref)
    for out, r in zip(outs, refs):
        scale = r.abs().max().item()
        assert scale > 1e-2, 'randomized weights should give non-trivial outputs'
        assert (out - r).abs().max().item() <= 1e-5 * max(1.0, scale)


def test_train_step_updates_all_trainable_params():
    model = randomize_(EMOv2('1m', out_indices=(1, 2, 3, 4), frozen_stages=1)).train()
    sum(o.mean() for o in model(torch.randn(2, 3, 64, 64))).backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        else:
            assert p.grad is None, name


def test_channels_last_gives_same_outputs_and_gradients():
    plain = randomize_(EMOv2('1m', out_indices=(1, 3, 4), drop_path_rate=0.0, channels_last=False))
    fast = EMOv2('1m', out_indices=(1, 3, 4), drop_path_rate=0.0, channels_last=True)
    fast.load_state_dict(plain.state_dict())
    assert fast.stage1[1].conv_local.conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 64, 80)
    for model in (plain, fast):
        model.train()
        sum(o.square().mean() for o in model(x)).backward()
    largest = max(p.grad.abs().max() for p in plain.parameters())
    for (name, p1), p2 in zip(plain.named_parameters(), fast.parameters()):
        if name == 'stage0.0.conv.bias':
            # A bias followed by a train-mode BatchNorm gets a zero gradient (the batch mean is
            # subtracted): both are rounding noise, so check they are negligible.
            assert max(p1.grad.abs().max(), p2.grad.abs().max()) <= 1e-5 * largest, name
            continue
        # Float rounding only: compare against each gradient's own scale.
        assert (p1.grad - p2.grad).abs().max() <= 1e-4 * p1.grad.abs().max() + 1e-6, name
    plain.eval(), fast.eval()
    with torch.no_grad():
        for a, b in zip(plain(x), fast(x)):
            assert (a - b).abs().max().item() <= 1e-5 * max(1.0, a.abs().max().item())
