"""ONNX export of the deploy form (``emo_mm.deploy.export_onnx``): one file with dynamic batch,
height and width computes, in ONNX Runtime, what the eager model computes at every size,
including sizes that do not divide into windows."""
import re

import numpy as np
import pytest
import torch
from reference import randomize_

from emo_mm.deploy import FixedSizeError, OnnxModel, export_onnx
from emo_mm.models import EMOv2

TINY = dict(depths=(1, 1, 2, 1), embed_dims=(16, 24, 40, 64), exp_ratios=(2.0, 2.0, 2.0, 2.0),
            head_dims=(8, 8, 8, 16))
SIZES = [(1, 224, 224), (2, 250, 330), (1, 512, 512), (1, 97, 61)]


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize_(EMOv2(TINY, window_size=7, out_indices=(1, 2, 3, 4), final_norm=True))
    reference = EMOv2(TINY, window_size=7, out_indices=(1, 2, 3, 4), final_norm=True)
    reference.load_state_dict(model.state_dict())
    path = tmp_path_factory.mktemp('onnx') / 'tiny.onnx'
    export_onnx(model, torch.randn(1, 3, 64, 64), path, output_names=['s1', 's2', 's3', 's4'],
                metadata={'emo_mm.note': 'a test'})
    return OnnxModel(path), reference.eval(), path


@pytest.mark.parametrize('batch,height,width', SIZES)
def test_one_file_equals_eager_model_at_every_size(exported, batch, height, width):
    session, reference, _ = exported
    x = torch.randn(batch, 3, height, width)
    with torch.no_grad():
        expected = reference(x)
    outputs = session(x)
    scale = max(ref.abs().max().item() for ref in expected)
    assert scale > 0.1
    for out, ref in zip(outputs, expected):
        assert out.shape == tuple(ref.shape)
        assert np.abs(out - ref.numpy()).max() <= 1e-4 * scale


def test_names_and_metadata_are_in_the_file(exported):
    session = exported[0]
    assert session.output_names == ['s1', 's2', 's3', 's4']
    assert session.metadata['emo_mm.note'] == 'a test'
    sizes = re.fullmatch(r'float32 N x 3 x H x W, H >= (\d+), W >= (\d+)', session.input_layout)
    assert sizes is not None, session.input_layout
    assert int(sizes[1]) <= min(h for _, h, _ in SIZES)
    assert int(sizes[2]) <= min(w for *_, w in SIZES)


class NarrowOnly(torch.nn.Module):
    """A branch on the width: a graph traced below ``limit`` holds widths below it only."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.shape[-1] < self.limit else x - 1


def test_a_graph_tied_to_a_band_of_sizes_is_traced_again_larger(tmp_path):
    """Traced at 32 px, the branch fixes widths < 50; traced again at 64 the graph holds every
    width from 50 up, and says so. Where no example frees the sizes, the export says why."""
    path = export_onnx(NarrowOnly(50), torch.randn(1, 3, 32, 32), tmp_path / 'wide.onnx',
                       fold=False)
    session = OnnxModel(path)
    assert session.input_layout.endswith('W >= 50')
    x = torch.randn(3, 3, 40, 500)
    assert np.array_equal(session(x)[0], (x - 1).numpy())
    with pytest.raises(FixedSizeError,
                       match=r'traced at \(2, 3, 128, 128\) holds only width 2..999999'):
        export_onnx(NarrowOnly(10**6), torch.randn(1, 3, 32, 32), tmp_path / 'narrow.onnx',
                    fold=False)
    assert [p.name for p in tmp_path.iterdir()] == ['wide.onnx']


class DataDependent(torch.nn.Module):
    """A branch on the input's values: torch.export refuses it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.sum() > 0 else x


def test_a_failed_export_leaves_the_existing_file_untouched(tmp_path):
    path = tmp_path / 'kept.onnx'
    path.write_bytes(b'previous export')
    with pytest.raises(Exception):
        export_onnx(DataDependent(), torch.randn(1, 3, 8, 8), path, fold=False)
    assert path.read_bytes() == b'previous export'
    assert list(tmp_path.iterdir()) == [path]
    with pytest.raises(ValueError, match='float32 CPU input'):
        export_onnx(EMOv2(TINY), torch.randn(1, 3, 64, 64, dtype=torch.float64), path)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no ONNX file'):
        OnnxModel(tmp_path / 'missing.onnx')
