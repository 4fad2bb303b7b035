"""A one-stage detector's whole prediction in one graph (``emo_mm.deploy.DetectionsOf``): it
returns mmdet's ``predict`` boxes on real shapes images, and ONNX Runtime runs the exported file,
NMS included, to the same boxes."""
import numpy as np
import pytest
import torch
from helpers import DEMOS, REPO_ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope

import emo_mm.det  # noqa: F401
from emo_mm.datasets.shapes.render import render_sample
from emo_mm.deploy import DetectionsOf, OnnxModel, export_onnx, match_detections

ONE_STAGE = ('retinanet', 'ssdlite')
SIZE = 192


def detector(name: str):
    """The demo's detector, with random weights and class biases spread so that hundreds of
    (anchor, class) pairs pass the score threshold and NMS has work to do."""
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(REPO_ROOT / DEMOS[name][0]).model).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m.bias is not None:
                m.bias.normal_(0.0, 1.0)
    return model


def images(count: int = 2) -> torch.Tensor:
    """Shapes scenes as mmdet loads images (uint8, BGR, C x H x W)."""
    rng = np.random.default_rng(0)
    return [torch.from_numpy(render_sample(rng, SIZE, SIZE).image[..., ::-1].copy()).permute(2, 0, 1)
            for _ in range(count)]


def predict(model, x):
    from mmdet.structures import DetDataSample
    samples = [DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                                           scale_factor=(1.0, 1.0))) for _ in range(len(x))]
    results = model.predict(x, samples, rescale=False)
    k = model.bbox_head.test_cfg.max_per_img
    out = [torch.zeros(len(x), k, 4), torch.zeros(len(x), k), torch.zeros(len(x), k, dtype=torch.long),
           torch.zeros(len(x), dtype=torch.long)]
    for i, r in enumerate(results):
        n = len(r.pred_instances)
        out[0][i, :n], out[1][i, :n] = r.pred_instances.bboxes, r.pred_instances.scores
        out[2][i, :n], out[3][i] = r.pred_instances.labels, n
    return out


@pytest.mark.parametrize('name', ONE_STAGE)
def test_the_graph_gives_mmdets_predictions(name):
    model = detector(name)
    x = model.data_preprocessor({'inputs': images(), 'data_samples': None})['inputs']
    with torch.no_grad():
        expected = predict(model, x)
        got = DetectionsOf(model)(x)
    assert int(expected[3].min()) > 5, 'too few detections for a meaningful comparison'
    print(name, match_detections(got, expected))


@pytest.mark.e2e   # an export of about half a minute
def test_onnx_runtime_runs_the_detector_with_its_nms_to_the_same_boxes(tmp_path):
    model = detector('retinanet')
    x = model.data_preprocessor({'inputs': images(), 'data_samples': None})['inputs']
    module = DetectionsOf(model)
    with torch.no_grad():
        expected = predict(model, x)
    path = export_onnx(module, x, tmp_path / 'retinanet.onnx', output_names=module.output_names(),
                       dynamic=False)
    got = OnnxModel(path)(x)
    assert [o.shape for o in got] == [tuple(e.shape) for e in expected]
    print(match_detections(got, expected))
