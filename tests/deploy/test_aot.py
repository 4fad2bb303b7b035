"""AOTInductor export of the deploy form (``emo_mm.deploy.export_aot``): the compiled package
computes what the eager model computes, and refuses inputs it was not compiled for."""
import pytest
import torch
from reference import randomize_

from emo_mm.deploy import export_aot, load_aot
from emo_mm.models import EMOv2

TINY = dict(depths=(1, 1, 2, 1), embed_dims=(16, 24, 40, 64), exp_ratios=(2.0, 2.0, 2.0, 2.0),
            head_dims=(8, 8, 8, 16))
SHAPE = (1, 3, 80, 96)   # stage 3: 5x6 tokens in windows of 4 (padded), stage 4: one window


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = randomize_(EMOv2(TINY, window_size=4, out_indices=(1, 2, 3, 4), final_norm=True))
    reference = EMOv2(TINY, window_size=4, out_indices=(1, 2, 3, 4), final_norm=True)
    reference.load_state_dict(model.state_dict())
    path = tmp_path_factory.mktemp('aot') / 'tiny.pt2'
    runner = export_aot(model, torch.randn(SHAPE), path)
    return runner, reference.eval(), path


def test_package_equals_eager_model(exported):
    runner, reference, path = exported
    x = torch.randn(SHAPE)
    with torch.no_grad():
        expected = reference(x)
    for runner_ in (runner, load_aot(path)):
        outputs = runner_(x)
        assert len(outputs) == len(expected)
        for out, ref in zip(outputs, expected):
            assert out.shape == ref.shape
            assert (out - ref).abs().max().item() <= 1e-5 * max(1.0, ref.abs().max().item())


def test_package_takes_nchw_input(exported):
    runner, reference, _ = exported
    x = torch.randn(SHAPE)            # NCHW-contiguous; the package was built channels-last
    with torch.no_grad():
        ref = reference(x)[-1]
    assert torch.allclose(runner(x)[-1], ref, atol=1e-5, rtol=0)


def test_wrong_input_shape_is_a_clear_error(exported):
    runner = exported[0]
    shapes = r'compiled for inputs of shape \(1, 3, 80, 96\), got \(1, 3, 96, 96\)'
    with pytest.raises(ValueError, match=shapes):
        runner(torch.randn(1, 3, 96, 96))
    with pytest.raises(ValueError, match='float32 CPU'):
        runner(torch.randn(SHAPE, dtype=torch.float64))


def test_missing_or_foreign_package_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no AOTInductor package'):
        load_aot(tmp_path / 'missing.pt2')
