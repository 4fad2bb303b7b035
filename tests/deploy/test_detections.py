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


def images(count: int = 2, height: int = SIZE, width: int = SIZE) -> list:
    """Shapes scenes as mmdet loads images (uint8, BGR, C x H x W)."""
    rng = np.random.default_rng(height * width)
    scenes = [render_sample(rng, width, height).image[..., ::-1].copy() for _ in range(count)]
    return [torch.from_numpy(scene).permute(2, 0, 1) for scene in scenes]


def predict(model, x):
    from mmdet.structures import DetDataSample
    shape = tuple(x.shape[-2:])
    samples = [DetDataSample(metainfo=dict(img_shape=shape, ori_shape=shape,
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
    for count, height, width in ((2, SIZE, SIZE), (1, 250, 330)):
        x = model.data_preprocessor({'inputs': images(count, height, width),
                                     'data_samples': None})['inputs']
        with torch.no_grad():
            expected = predict(model, x)
            got = DetectionsOf(model)(x)
        assert int(expected[3].min()) > 5, 'too few detections for a meaningful comparison'
        print(name, match_detections(got, expected))


@pytest.mark.e2e   # an export of about a minute
@pytest.mark.parametrize('name', ONE_STAGE)
def test_onnx_runtime_runs_the_detector_with_its_nms_to_the_same_boxes(name, tmp_path):
    """One file with dynamic batch, height and width: mmdet's boxes at every size, including
    sizes that are no multiple of the strides or the attention windows."""
    model = detector(name)
    module = DetectionsOf(model)
    example = model.data_preprocessor({'inputs': images(1), 'data_samples': None})['inputs']
    path = export_onnx(module, example, tmp_path / f'{name}.onnx',
                       output_names=module.output_names())
    session = OnnxModel(path)
    for count, height, width in ((2, SIZE, SIZE), (1, 250, 330), (1, 512, 512), (1, 97, 131)):
        # Without the data preprocessor's padding to a multiple of 32: the graph takes any size.
        x = model.data_preprocessor({'inputs': images(count, height, width),
                                     'data_samples': None})['inputs'][..., :height, :width]
        with torch.no_grad():
            expected = predict(model, x)
        got = session(x)
        assert [o.shape for o in got] == [tuple(e.shape) for e in expected]
        print(name, tuple(x.shape), match_detections(got, expected))
