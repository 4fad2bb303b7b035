"""tools/infer.py end to end for each task on two generated images: painted predictions in
vis/, one prediction file per image in preds/ with the config's class names (the
checkpoints here carry none), and bad input as a one-line error."""
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from emo_mm.cli import TASKS
from helpers import REPO_ROOT, run_tool

pytestmark = pytest.mark.e2e   # runs the tools as processes

CLASSES = ['circle', 'triangle', 'rectangle', 'star']
DEMOS = {
    'mmdet': 'configs/det/demo/retinanet_emov2_1m_shapes.py',
    'mmseg': 'configs/seg/demo/deeplabv3_emov2_1m_shapes.py',
    'mmpretrain': 'configs/cls/demo/emov2_1m_shapes.py',
}
SIZES = {'a.png': (96, 80), 'b.jpg': (64, 72)}   # file name: (width, height)


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    for name, (width, height) in SIZES.items():
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)
    return folder


def save_checkpoint(scope: str, path) -> None:
    """A checkpoint of the demo model at its initial weights, with no dataset_meta."""
    model = TASKS[scope].build_model(Config.fromfile(REPO_ROOT / DEMOS[scope]))
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)


@pytest.mark.parametrize('scope', list(DEMOS))
def test_infer_paints_and_saves_predictions(scope, images, tmp_path):
    checkpoint = tmp_path / 'model.pth'
    save_checkpoint(scope, checkpoint)
    out_dir = tmp_path / 'out'
    result = run_tool('infer.py', DEMOS[scope], checkpoint, images, '--out-dir', out_dir,
                      '--score-thr', '0.0')
    assert result.returncode == 0, result.stderr[-3000:]
    assert f'2 image(s): painted predictions in {out_dir / "vis"}' in result.stdout

    painted = sorted(p.name for p in (out_dir / 'vis').iterdir())
    assert len(painted) == 2
    for name, (width, height) in SIZES.items():
        vis = next(p for p in (out_dir / 'vis').iterdir() if p.stem == name.split('.')[0])
        assert Image.open(vis).size == (width, height)      # drawn on the input image
        record = json.loads((out_dir / 'preds' / f'{name.split(".")[0]}.json').read_text())
        assert record['image'] == str(images / name)
        if scope == 'mmdet':
            scores = [inst['score'] for inst in record['instances']]
            assert scores and scores == sorted(scores, reverse=True)
            for inst in record['instances']:
                assert inst['class'] == CLASSES[inst['label']]
                x1, y1, x2, y2 = inst['bbox_xyxy']
                assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
        elif scope == 'mmseg':
            label_map = np.array(Image.open(out_dir / 'preds' / record['label_map']))
            assert label_map.shape == (height, width)
            assert set(record['class_fractions']) <= {'background', *CLASSES}
            assert sum(record['class_fractions'].values()) == pytest.approx(1, abs=1e-3)
        else:
            assert list(record['scores']) == CLASSES
            assert sum(record['scores'].values()) == pytest.approx(1, abs=1e-3)
            assert record['class'] == max(record['scores'], key=record['scores'].get)


def test_bad_input_is_a_clear_error(images, tmp_path):
    checkpoint = tmp_path / 'cls.pth'
    save_checkpoint('mmpretrain', checkpoint)
    (tmp_path / 'corrupt.png').write_bytes(b'not an image')
    (tmp_path / 'twin').mkdir()
    (tmp_path / 'twin' / 'a.png').write_bytes((images / 'a.png').read_bytes())
    (tmp_path / 'empty').mkdir()
    other_model = tmp_path / 'seg.pth'
    save_checkpoint('mmseg', other_model)
    config = DEMOS['mmpretrain']
    for args, message in (
            ([checkpoint, tmp_path / 'corrupt.png'], 'corrupt or not an image'),
            ([checkpoint, tmp_path / 'missing.png'], 'image not found'),
            ([tmp_path / 'corrupt.png', images], 'cannot read checkpoint'),
            ([checkpoint, tmp_path / 'empty'], 'no images'),
            ([checkpoint, images, tmp_path / 'twin' / 'a.png'], 'have the same name'),
            ([other_model, images], 'does not match EMOv2Classifier: missing keys')):
        result = run_tool('infer.py', config, *args, '--out-dir', tmp_path / 'out')
        assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
        assert 'Traceback' not in result.stderr
    assert not (tmp_path / 'out').exists()          # nothing written before the checks pass
