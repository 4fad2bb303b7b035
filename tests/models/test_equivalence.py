"""The optimised EMOv2 equals the plain (official) formulation of ``benchmarks/plain_emov2.py``:
outputs, training gradients, the deploy (folded) form, activation checkpointing, and
``torch.compile(fullgraph=True)`` traceability."""
import copy

import pytest
import torch
import torch.nn as nn
from reference import randomize_

from benchmarks.plain_emov2 import PlainEMOv2
from emo_mm.analysis import count_flops
from emo_mm.models import EMOv2, reparameterize
from emo_mm.models.attention import PARTITIONS, WindowAttention, attention_plan

ALL_OUTPUTS = (0, 1, 2, 3, 4)
TINY = dict(depths=(1, 2, 2, 2), embed_dims=(16, 24, 40, 64), exp_ratios=(2.0, 2.0, 2.0, 2.0),
            head_dims=(8, 8, 8, 16))


def max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Max abs difference, relative to the output's own scale when that exceeds 1."""
    return (a - b).abs().max().item() / max(1.0, b.abs().max().item())


def build_pair(arch, window, **kwargs):
    ours = randomize_(EMOv2(arch, window_size=window, out_indices=ALL_OUTPUTS, final_norm=True,
                            **kwargs))
    plain = PlainEMOv2(arch, window_size=window, out_indices=ALL_OUTPUTS, final_norm=True,
                       drop_path_rate=kwargs.get('drop_path_rate'))
    plain.load_state_dict(ours.state_dict())
    return ours, plain


def assert_grads_equal(model_a: nn.Module, model_b: nn.Module, rtol: float = 1e-4) -> None:
    """Each gradient within ``rtol`` of its own scale, or ``rtol / 100`` of the largest gradient:
    one that is zero in exact math (a conv bias before a training-mode BatchNorm) is float noise."""
    pairs = [(name, p1.grad, p2.grad) for (name, p1), p2 in
             zip(model_a.named_parameters(), model_b.parameters())]
    overall = max(g.abs().max().item() for _, _, g in pairs)
    for name, g1, g2 in pairs:
        scale = max(g2.abs().max().item(), 1e-2 * overall)
        assert (g1 - g2).abs().max().item() <= rtol * scale, name


OUTPUT_CASES = [
    # arch, window, (height, width), channels_last
    ('1m', 7, (96, 104), True),       # stage 3 in 2x2 windows, stage 4 padded
    ('1m', 7, (224, 224), True),      # ImageNet: 14x14 (2x2 windows), 7x7 (one window)
    ('1m', 5, (100, 76), True),       # padding on both axes in stages 3 and 4
    ('1m', 0, (64, 80), True),        # global attention
    ('1m', 7, (96, 104), False),      # NCHW memory format
    ('emov1_1m', 4, (80, 64), True),  # dilated windows only
    ('2m', 10, (160, 160), True),     # detection window: 10x10 -> padded, 5x5 -> one window
]


@pytest.mark.parametrize('arch,window,size,channels_last', OUTPUT_CASES)
def test_outputs_equal_plain_formulation(arch, window, size, channels_last):
    ours, plain = build_pair(arch, window, channels_last=channels_last)
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        outs, refs = ours.eval()(x), plain.eval()(x)
    for out, ref in zip(outs, refs):
        assert out.shape == ref.shape
        assert ref.abs().max() > 1e-2, 'randomized weights should give non-trivial outputs'
        assert max_error(out, ref) <= 1e-5


@pytest.mark.parametrize('arch,window,size', [('1m', 7, (64, 72)), ('1m', 5, (52, 60)),
                                              ('emov1_1m', 4, (48, 48))])
def test_training_gradients_equal_plain_formulation(arch, window, size):
    """In float64, where the two formulations' different float32 rounding (which depends on the
    CPU's kernels: 1.4e-4 of a gradient's scale on an AVX2-only CPU) vanishes: every gradient
    agrees to 1e-10 of its scale (measured: 2e-13)."""
    ours, plain = build_pair(arch, window, drop_path_rate=0.0)
    ours.double()
    plain.double()
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    grads = []
    for model in (ours, plain):
        xi = x.clone().requires_grad_()
        model.train()
        sum(o.square().mean() for o in model(xi)).backward()
        grads.append(xi.grad)
    assert (grads[0] - grads[1]).abs().max() <= 1e-10 * grads[1].abs().max()
    assert_grads_equal(ours, plain, rtol=1e-10)
    for (name, b1), b2 in zip(ours.named_buffers(), plain.buffers()):   # BN running stats
        torch.testing.assert_close(b1, b2, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize('arch,window,size', [('1m', 7, (96, 104)), ('emov1_1m', 5, (70, 64)),
                                              ('1m', 10, (64, 64))])
def test_deploy_form_equals_train_form(arch, window, size):
    model = randomize_(EMOv2(arch, window_size=window, out_indices=ALL_OUTPUTS, final_norm=True))
    deploy = EMOv2(arch, window_size=window, out_indices=ALL_OUTPUTS, final_norm=True)
    deploy.load_state_dict(model.state_dict())
    deploy.switch_to_deploy()
    assert not deploy.training
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deploy.modules())
    assert not any(name.endswith('gamma') for name, _ in deploy.named_parameters())
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        for out, ref in zip(deploy(x), model.eval()(x)):
            assert max_error(out, ref) <= 1e-5


@pytest.mark.parametrize('size,window,partitions', [
    ((13, 10), 5, PARTITIONS),      # remote windows of 5 and 4 real rows; partial close windows
    ((32, 32), 10, PARTITIONS),     # 512 input, stage 3: every remote window 8x8 real
    ((5, 6), 7, PARTITIONS),        # one window larger than the map: both partitions alike
    ((11, 9), 4, ('remote', )),     # EMOv1 dilated windows only
])
def test_merged_padding_equals_attending_every_padded_token(size, window, partitions):
    torch.manual_seed(0)
    merged = WindowAttention(24, 48, 8, window, partitions=partitions, act='gelu')
    for p in merged.parameters():
        nn.init.normal_(p, std=0.5)
    full = copy.deepcopy(merged)
    full.merge_padding = False
    x = torch.randn(2, 24, *size)
    outs = []
    for module in (merged, full):
        xi = x.clone().requires_grad_()
        out = module(xi)
        out.square().mean().backward()
        outs.append((out, xi.grad))
    assert max_error(outs[0][0], outs[1][0]) <= 1e-5
    assert max_error(outs[0][1], outs[1][1]) <= 1e-5
    assert_grads_equal(merged, full)    # the biases get the padded tokens' gradient too



@pytest.mark.parametrize('size,window,partitions', [
    ((13, 10), 5, PARTITIONS),      # padded remote and close windows
    ((14, 14), 7, PARTITIONS),      # whole windows
    ((5, 6), 7, PARTITIONS),        # one window larger than the map
    ((9, 11), 0, PARTITIONS),       # global attention
    ((11, 9), 4, ('remote', )),     # EMOv1 dilated windows only
])
def test_any_shape_form_equals_the_planned_one(size, window, partitions):
    """The shape-free form ONNX export traces (WindowAttention.any_shape) is the same function."""
    torch.manual_seed(0)
    planned = WindowAttention(24, 48, 8, window, partitions=partitions, act='gelu')
    for p in planned.parameters():
        nn.init.normal_(p, std=0.5)
    free = copy.deepcopy(planned)
    free.any_shape = True
    x = torch.randn(2, 24, *size)
    with torch.no_grad():
        ref, out = planned(x), free(x)
    assert ref.abs().max() > 1.0
    assert max_error(out, ref) <= 1e-5

def test_attention_plan_merges_the_padding_of_a_512_input():
    plan = attention_plan(PARTITIONS, (32, 32), (10, 10))   # stage 3 at 512, window 10
    assert not plan.padded                  # every view lies inside the 32x32 map
    blocks = {(g.kind, g.block, g.merged, g.grid) for g in plan.groups}
    assert blocks == {('remote', (8, 8), 36, (4, 4)), ('close', (10, 10), 0, (3, 3)),
                      ('close', (10, 2), 80, (3, 1)), ('close', (2, 10), 80, (1, 3)),
                      ('close', (2, 2), 96, (1, 1))}
    # query-key products: half of attending to every token of the 40x40 padded map
    products = sum(g.grid[0] * g.grid[1] * (g.block[0] * g.block[1]) *
                   (g.block[0] * g.block[1] + (g.merged > 0)) for g in plan.groups)
    assert products / (2 * 16 * 100 * 100) < 0.5
    unmerged = attention_plan(PARTITIONS, (32, 32), (10, 10), merge_padding=False)
    assert unmerged.padded and unmerged.size == (40, 40)


def test_flops_are_counted_as_the_official_code_computes_them():
    ours, plain = build_pair('1m', 10, channels_last=True)
    size = (1, 3, 160, 176)                 # stages 3 and 4 padded
    assert count_flops(ours, size) == count_flops(plain, size)
    assert all(m.merge_padding for m in ours.modules() if isinstance(m, WindowAttention))


def test_reparameterize_reaches_a_backbone_inside_a_model():
    head = nn.Linear(64, 3)
    model = nn.ModuleDict(dict(backbone=randomize_(EMOv2(TINY, final_norm=True)), head=head))
    ref = EMOv2(TINY, final_norm=True).eval()
    ref.load_state_dict(model['backbone'].state_dict())
    reparameterize(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert max_error(model['backbone'](x)[0], ref(x)[0]) <= 1e-5


def test_activation_checkpointing_same_outputs_and_gradients():
    fast = randomize_(EMOv2('1m', window_size=5, out_indices=(2, 4), drop_path_rate=0.0))
    ckpt = EMOv2('1m', window_size=5, out_indices=(2, 4), drop_path_rate=0.0, with_cp=True)
    ckpt.load_state_dict(fast.state_dict())
    x = torch.randn(2, 3, 72, 64)
    outs = []
    for model in (fast, ckpt):
        model.train()
        out = model(x)
        sum(o.square().mean() for o in out).backward()
        outs.append(out)
    for a, b in zip(*outs):
        assert max_error(a, b) <= 1e-6
    assert_grads_equal(fast, ckpt)


@pytest.mark.parametrize('deploy', [False, True])
def test_dynamo_traces_the_backbone_without_graph_breaks(deploy):
    model = randomize_(EMOv2(TINY, window_size=4, out_indices=(1, 2, 3, 4)))
    if deploy:
        model.switch_to_deploy()
    x = torch.randn(1, 3, 72, 64)          # stage 3 padded, stage 4 one window
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1


def test_fullgraph_compiled_training_step_equals_eager():
    torch._dynamo.reset()
    eager = randomize_(EMOv2(TINY, window_size=4, drop_path_rate=0.0)).train()
    traced = EMOv2(TINY, window_size=4, drop_path_rate=0.0).train()
    traced.load_state_dict(eager.state_dict())
    compiled = torch.compile(traced, fullgraph=True, backend='aot_eager')
    x = torch.randn(2, 3, 64, 64)
    out_e, out_c = eager(x)[0], compiled(x)[0]
    assert max_error(out_c, out_e) <= 1e-6
    out_e.square().mean().backward()
    out_c.square().mean().backward()
    assert_grads_equal(eager, traced)
