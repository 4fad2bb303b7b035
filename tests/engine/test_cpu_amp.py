"""CpuBf16OptimWrapper: the forward pass runs in CPU bfloat16 autocast, the weights, gradients
and optimizer state stay float32, and its state dict is a plain OptimWrapper's."""
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from emo_mm.engine import CpuBf16OptimWrapper


def test_forward_in_bf16_weights_and_state_in_float32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(1, 3, 8, 8))
    wrapper = CpuBf16OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1,
                                                            momentum=0.9))
    with wrapper.optim_context(model):
        out = model(torch.randn(4, 3, 8, 8))
        loss = out.float().pow(2).mean()
    assert out.dtype == torch.bfloat16
    wrapper.update_params(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    buffers = [s['momentum_buffer'] for s in wrapper.optimizer.state.values()]
    assert buffers and all(b.dtype == torch.float32 for b in buffers)
    plain = OptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    plain.load_state_dict(wrapper.state_dict())       # a float32 run resumes from it
    assert plain.optimizer.state_dict()['state'].keys() == wrapper.state_dict()['state'].keys()
