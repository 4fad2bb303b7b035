"""EfficientFormerAnySize: mmpretrain's EfficientFormer at 224, and any square map up to 7x7."""
import pytest
import torch
from mmpretrain.models.backbones import EfficientFormer

from emo_mm.models.peers import EfficientFormerAnySize


def _pair():
    ours = EfficientFormerAnySize(arch='l1', out_indices=(3, ), reshape_last_feat=True)
    theirs = EfficientFormer(arch='l1', out_indices=(3, ), reshape_last_feat=True)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    with torch.no_grad():
        for block in theirs.modules():   # a non-zero bias table, so that indexing matters
            if hasattr(block, 'attention_biases'):
                block.attention_biases.normal_()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@pytest.mark.parametrize('training', [False, True])
def test_equals_mmpretrain_at_224(training):
    ours, theirs = _pair()
    ours.train(training)
    theirs.train(training)
    x = torch.randn(2, 3, 224, 224)
    torch.manual_seed(1)
    expected = theirs(x)[0]
    torch.manual_seed(1)
    got = ours(x)[0]
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_smaller_maps_use_their_offsets_and_larger_ones_fail_clearly():
    ours, _ = _pair()
    ours.eval()
    assert ours(torch.randn(1, 3, 192, 192))[0].shape == (1, 448, 6, 6)
    attention = next(m for m in ours.modules() if hasattr(m, 'bias_index'))
    index = attention.bias_index(4)      # a 2x2 map: offsets (0,0) (0,1) (1,0) (1,1)
    full = attention.attention_bias_idxs  # mmpretrain's 7x7 index: token (r, c) is r * 7 + c
    for a, (ra, ca) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        for b, (rb, cb) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            assert index[a, b] == full[ra * 7 + ca, rb * 7 + cb]
    with pytest.raises(ValueError, match='at most 7x7'):
        ours(torch.randn(1, 3, 256, 256))
