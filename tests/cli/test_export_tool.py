"""tools/deployment/export_aot.py end to end: a trained-style checkpoint of the RetinaNet demo
config becomes a package that computes what the eager detector computes; bad input is a
one-line error that leaves an existing package alone."""
import pytest
import torch
import torch.utils._pytree as pytree
from mmengine.config import Config
from reference import randomize_

from emo_mm.cli import TASKS
from emo_mm.deploy import load_aot
from helpers import REPO_ROOT, run_tool

pytestmark = pytest.mark.e2e   # runs the tools as processes

RETINANET = 'configs/det/demo/retinanet_emov2_1m_shapes.py'
MASK_RCNN = 'configs/det/demo/mask_rcnn_emov2_1m_shapes.py'


def build_retinanet() -> torch.nn.Module:
    return TASKS['mmdet'].build_model(Config.fromfile(REPO_ROOT / RETINANET))


@pytest.fixture(scope='module')
def retinanet_checkpoint(tmp_path_factory):
    model = randomize_(build_retinanet())
    path = tmp_path_factory.mktemp('ckpt') / 'retinanet.pth'
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    return path, model.eval()


def test_export_writes_a_package_equal_to_the_eager_detector(retinanet_checkpoint, tmp_path):
    checkpoint, model = retinanet_checkpoint
    out = tmp_path / 'retinanet.pt2'
    result = run_tool('deployment/export_aot.py', RETINANET, checkpoint, '--shape', '64', '96',
                      '--out', out, '--runs', '1')
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'AOTInductor package: {out}' in result.stdout
    assert 'check:    max |package - eager|' in result.stdout
    assert 'mean [123.675, 116.28, 103.53]' in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ['retinanet.pt2']   # no staging left

    package = load_aot(out)
    assert package.metadata['emo_mm.part'] == 'model'
    assert package.metadata['emo_mm.weights'] == str(checkpoint)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = model(x, mode='tensor')       # (cls_scores, bbox_preds) per FPN level
    outputs = package(x)
    assert len(outputs) == 2 and len(outputs[0]) == len(expected[0]) == 5
    for got, want in zip(pytree.tree_leaves(outputs), pytree.tree_leaves(expected)):
        assert got.shape == want.shape
        assert (got - want).abs().max().item() <= 1e-5 * max(1.0, want.abs().max().item())


def test_bad_input_is_a_clear_error_and_keeps_an_existing_package(retinanet_checkpoint,
                                                                   tmp_path):
    out = tmp_path / 'kept.pt2'
    out.write_bytes(b'an earlier package')
    # A two-stage detector's tensor mode needs image metadata: not exportable as a whole.
    result = run_tool('deployment/export_aot.py', MASK_RCNN, '--shape', '64', '--out', out)
    assert result.returncode == 2
    assert '--part model of MaskRCNN cannot run on a 1x3x64x64 tensor alone' in result.stderr
    assert 'Try --part features or --part backbone' in result.stderr
    # A checkpoint of another model names the keys that do not fit.
    result = run_tool('deployment/export_aot.py', MASK_RCNN, retinanet_checkpoint[0],
                      '--out', out)
    assert result.returncode == 2
    assert 'does not match MaskRCNN: missing keys: ' in result.stderr
    assert 'rpn_head.rpn_conv.weight' in result.stderr
    for args, message in (
            (['--out', tmp_path / 'x.onnx'], '--out must end with .pt2'),
            (['--shape', '1', '2', '3', '--out', out], '--shape takes a height'),
            ([tmp_path / 'missing.pth', '--out', out], 'checkpoint not found'),
            (['--cfg-options', 'model.backbone.archh=2m', '--out', out],
             "'model.backbone.archh' does not exist")):
        result = run_tool('deployment/export_aot.py', RETINANET, *args)
        assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
        assert 'Traceback' not in result.stderr
    assert out.read_bytes() == b'an earlier package'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['kept.pt2']


def test_a_package_outside_the_tolerance_is_not_written(tmp_path):
    out = tmp_path / 'cls.pt2'
    out.write_bytes(b'an earlier package')
    # Folding BatchNorm and LayerScale reorders float32 arithmetic: with a tolerance of zero
    # the (correct, 1e-7-close) package is refused, which exercises the refusal path.
    result = run_tool('deployment/export_aot.py', 'configs/cls/demo/emov2_1m_shapes.py',
                      '--shape', '32', '--out', out, '--tolerance', '0', '--runs', '0')
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'the compiled package differs from the eager model by' in result.stderr
    assert f'{out} was not written' in result.stderr
    assert out.read_bytes() == b'an earlier package'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cls.pt2']
