"""tools/deployment/export_onnx.py end to end: the classifier demo exported with dynamic sizes,
checked by the tool in ONNX Runtime, and the file run with onnxruntime and numpy alone."""
import json
import subprocess
import sys

import pytest
from helpers import REPO_ROOT, run_tool

pytestmark = pytest.mark.e2e   # runs the tools as processes

CLS_DEMO = 'configs/cls/demo/emov2_1m_shapes.py'
# What docs/deployment.md shows a user: onnxruntime and numpy, nothing of emo_mm or torch.
RUN_WITH_ONNXRUNTIME = """
import json, sys
import numpy as np
import onnxruntime as ort
session = ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])
meta = session.get_modelmeta().custom_metadata_map
prep = json.loads(meta['emo_mm.preprocessing'])
image = np.random.default_rng(0).integers(0, 256, (80, 72, 3)).astype(np.float32)  # H W C, RGB
x = ((image - prep['mean']) / prep['std']).transpose(2, 0, 1)[None].astype(np.float32)
logits, scores = session.run(None, {'image': x})
classes = json.loads(meta['emo_mm.classes'])
print(classes[int(scores[0].argmax())], float(scores[0].sum()))
"""


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp('onnx_tool') / 'cls.onnx'
    result = run_tool('deployment/export_onnx.py', CLS_DEMO, '--shape', '64',
                      '--check', '64', '97x80', '--out', out, check=True)
    return out, result.stdout


def test_the_tool_checks_every_size_and_writes_metadata(exported):
    out, stdout = exported
    assert 'check:    ONNX Runtime vs eager at 1x3x64x64' in stdout
    assert 'check:    ONNX Runtime vs eager at 2x3x97x80' in stdout
    assert 'outputs:  logits, scores' in stdout
    import onnx
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta['emo_mm.classes']) == ['circle', 'triangle', 'rectangle', 'star']
    assert json.loads(meta['emo_mm.preprocessing'])['std'] == [58.395, 57.12, 57.375]
    assert meta['emo_mm.part'] == 'model'


def test_the_file_runs_with_onnxruntime_and_numpy_alone(exported):
    out, _ = exported
    result = subprocess.run([sys.executable, '-c', RUN_WITH_ONNXRUNTIME, str(out)],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    name, total = result.stdout.split()
    assert name in ('circle', 'triangle', 'rectangle', 'star')
    assert abs(float(total) - 1.0) < 1e-4


def test_a_failed_check_leaves_the_existing_file_untouched(exported, tmp_path):
    out = tmp_path / 'kept.onnx'
    out.write_bytes(b'previous export')
    result = run_tool('deployment/export_onnx.py', CLS_DEMO, '--part', 'backbone', '--shape',
                      '64', '--check', '64', '--tolerance', '0', '--out', out)
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'ONNX Runtime differs from the eager model' in result.stderr
    assert 'Traceback' not in result.stderr
    assert out.read_bytes() == b'previous export'
    assert [p.name for p in tmp_path.iterdir()] == ['kept.onnx']


def test_int8_file_is_calibrated_on_training_images_and_checked(tmp_path):
    """--int8 writes <out>_int8.onnx next to the float32 file: ONNX Runtime's static int8
    quantization, calibrated on training images, within --int8-tolerance of eager float32."""
    import onnx
    out = tmp_path / 'cls.onnx'
    result = run_tool('deployment/export_onnx.py', CLS_DEMO, '--shape', '64', '--check', '64',
                      '--int8', '--calib-images', '8', '--out', out, check=True)
    int8 = tmp_path / 'cls_int8.onnx'
    assert f'int8 file: {int8}' in result.stdout
    assert 'calibrated on 8 training images; vs eager float32 on 8 of them' in result.stdout
    meta = {p.key: p.value for p in onnx.load(str(int8)).metadata_props}
    assert meta['emo_mm.precision'] == 'int8' and meta['emo_mm.part'] == 'model'
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert {'QuantizeLinear', 'DequantizeLinear'} <= ops
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cls.onnx', 'cls_int8.onnx']


def test_bad_arguments_are_one_line_errors(tmp_path):
    for args, message in ((['--out', tmp_path / 'x.pt2'], '--out must end with .onnx'),
                          (['--check', '64x'], '--check takes sizes as H or HxW'),
                          (['--int8', '--calib-images', '0'], '--calib-images must be >= 1')):
        result = run_tool('deployment/export_onnx.py', CLS_DEMO, *args)
        assert result.returncode == 2
        assert message in result.stderr and 'Traceback' not in result.stderr


def test_a_segmentor_exports_logits_and_labels_at_a_fixed_size(tmp_path):
    """--static: one size in the graph (the shape a runtime such as TensorRT may prefer)."""
    out = tmp_path / 'seg.onnx'
    result = run_tool('deployment/export_onnx.py', 'configs/seg/demo/deeplabv3_emov2_1m_shapes.py',
                      '--static', '--shape', '96', '--out', out, check=True)
    assert 'outputs:  logits, labels' in result.stdout
    assert 'labels equal at' in result.stdout
    assert 'input:    float32 1 x 3 x 96 x 96' in result.stdout
    assert 'check:    ONNX Runtime vs eager at 1x3x96x96' in result.stdout


def test_a_detector_exports_its_whole_prediction_for_any_size(tmp_path):
    """A one-stage detector's file holds box decoding and NMS, with dynamic batch, height and
    width; the tool checks its detections at each size (tests/deploy/test_detections.py
    compares them with mmdet's on images with hundreds of detections)."""
    demo = 'configs/det/demo/retinanet_emov2_1m_shapes.py'
    refused = run_tool('deployment/export_onnx.py', demo, '--int8', '--out', tmp_path / 'int8.onnx')
    assert refused.returncode == 2 and 'Traceback' not in refused.stderr
    assert '--int8 of the whole detector' in refused.stderr and not list(tmp_path.iterdir())
    out = tmp_path / 'det.onnx'
    result = run_tool('deployment/export_onnx.py', demo, '--shape', '128', '--check', '128',
                      '97x131', '--out', out, check=True)
    assert 'outputs:  boxes, scores, labels, num_detections' in result.stdout
    assert 'input:    float32 N x 3 x H x W, H >= ' in result.stdout
    assert 'ONNX Runtime vs eager at 2x3x97x131' in result.stdout
