"""Strict loading of official-layout checkpoints, the converter tool, and safe torch.load."""
from collections import OrderedDict

import pytest
import torch
from helpers import official_state_dict, run_tool

from emo_mm.checkpoint import CheckpointMismatchError, load_pretrained, read_checkpoint
from emo_mm.models import EMOv2


@pytest.fixture(scope='module')
def official_1m():
    return official_state_dict('1m')


def save(tmp_path, name, obj):
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


@pytest.mark.parametrize('wrap', ['flat', 'net', 'net_ddp', 'state_dict'])
def test_init_cfg_loads_official_layouts_strictly(tmp_path, official_1m, wrap):
    if wrap == 'flat':
        obj = official_1m
    elif wrap == 'net':
        obj = {'net': official_1m, 'net_E': official_1m, 'epoch': 3}
    elif wrap == 'net_ddp':
        obj = {'net': OrderedDict(('module.' + k, v) for k, v in official_1m.items())}
    else:
        obj = {'state_dict': official_1m, 'meta': {'epoch': 1}}
    path = save(tmp_path, 'ckpt.pth', obj)
    model = EMOv2('1m', window_size=10, out_indices=(1, 2, 3, 4),
                  init_cfg=dict(type='Pretrained', checkpoint=path))
    model.init_weights()
    own = model.state_dict()
    assert all(torch.equal(own[k], official_1m[k]) for k in own)
    assert 'norm.norm.weight' not in own          # det/seg backbone drops the classifier norm


def test_final_norm_backbone_keeps_norm(tmp_path, official_1m):
    model = EMOv2('1m', final_norm=True)
    load_pretrained(model, save(tmp_path, 'c.pth', official_1m))
    assert torch.equal(model.norm.norm.weight, official_1m['norm.norm.weight'])


def test_ema_weights_are_selectable(tmp_path, official_1m):
    other = official_state_dict('1m', seed=1)
    path = save(tmp_path, 'c.pth', {'net': official_1m, 'net_E': other})
    model = EMOv2('1m')
    load_pretrained(model, path, ema=True)
    assert torch.equal(model.stage1[0].ls.gamma, other['stage1.0.ls.gamma'])


def test_prefix_selects_a_submodule(tmp_path, official_1m):
    detector = OrderedDict(('backbone.' + k, v) for k, v in official_1m.items() if not k.startswith(('head', 'norm')))
    detector['neck.conv.weight'] = torch.zeros(1)
    path = save(tmp_path, 'det.pth', {'state_dict': detector})
    model = EMOv2('1m')
    model.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='backbone.')
    model.init_weights()
    assert torch.equal(model.stage4[2].ls.gamma, official_1m['stage4.2.ls.gamma'])


def test_missing_key_is_named(tmp_path, official_1m):
    sd = OrderedDict(official_1m)
    del sd['stage3.4.eops.0.qk.conv.bias']
    with pytest.raises(CheckpointMismatchError, match=r'missing keys: stage3\.4\.eops\.0\.qk\.conv\.bias'):
        load_pretrained(EMOv2('1m'), save(tmp_path, 'c.pth', sd))


def test_unexpected_key_is_named(tmp_path, official_1m):
    sd = OrderedDict(official_1m)
    sd['stage5.0.weight'] = torch.zeros(3)
    with pytest.raises(CheckpointMismatchError, match=r'unexpected keys: stage5\.0\.weight'):
        load_pretrained(EMOv2('1m'), save(tmp_path, 'c.pth', sd))


def test_wrong_arch_names_shapes_and_the_right_arch(tmp_path):
    path = save(tmp_path, 'c.pth', official_state_dict('2m'))
    with pytest.raises(CheckpointMismatchError) as info:
        load_pretrained(EMOv2('1m'), path)
    message = str(info.value)
    assert 'wrong shapes: stage3.0.proj.conv.weight' in message or 'wrong shapes' in message
    assert "fits arch '2m'" in message


def test_nothing_is_half_loaded_on_error(tmp_path, official_1m):
    sd = OrderedDict(official_1m)
    del sd['stage4.2.ls.gamma']
    model = EMOv2('1m')
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError):
        load_pretrained(model, save(tmp_path, 'c.pth', sd))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_missing_file_says_where_to_put_it(tmp_path):
    model = EMOv2('1m', init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'EMOv2_1M_224.pth')))
    with pytest.raises(FileNotFoundError, match=r'checkpoints/.*init_cfg=None'):
        model.init_weights()


def test_corrupt_file_is_reported(tmp_path):
    path = tmp_path / 'broken.pth'
    path.write_bytes(b'not a checkpoint')
    with pytest.raises(RuntimeError, match='broken.pth'):
        read_checkpoint(str(path))


def test_arbitrary_pickles_are_refused(tmp_path):
    path = save(tmp_path, 'evil.pth', {'state_dict': {'w': torch.zeros(1)}, 'x': _Evil()})
    with pytest.raises(RuntimeError, match='not safe to unpickle'):
        read_checkpoint(path)


class _Evil:
    pass


def run_converter(*args):
    return run_tool('model_converters/emov2_official.py', *args)


@pytest.mark.e2e
def test_converter_backbone_and_cls(tmp_path, official_1m):
    src = save(tmp_path, 'EMOv2_1M_224.pth', {'net': official_1m})
    out = run_converter(src, str(tmp_path / 'bb.pth'), '--task', 'backbone')
    assert out.returncode == 0, out.stderr
    assert 'arch 1m' in out.stdout
    model = EMOv2('1m', init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'bb.pth')))
    model.init_weights()
    assert torch.equal(model.stage0[0].conv.weight, official_1m['stage0.0.conv.weight'])

    out = run_converter(src, str(tmp_path / 'cls.pth'), '--task', 'cls')
    assert out.returncode == 0, out.stderr
    converted = torch.load(tmp_path / 'cls.pth')['state_dict']
    assert torch.equal(converted['head.fc.weight'], official_1m['head.weight'])
    assert torch.equal(converted['backbone.norm.norm.bias'], official_1m['norm.norm.bias'])


@pytest.mark.e2e
def test_converter_rejects_broken_input(tmp_path, official_1m):
    sd = OrderedDict(official_1m)
    del sd['stage2.1.proj.conv.weight']
    out = run_converter(save(tmp_path, 'bad.pth', sd), str(tmp_path / 'o.pth'), '--arch', '1m')
    assert out.returncode == 1
    assert 'stage2.1.proj.conv.weight' in out.stderr
    assert not (tmp_path / 'o.pth').exists()
