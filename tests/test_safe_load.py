"""torch>=2.6 loads with weights_only=True; emo_mm lets that read mmengine checkpoints, narrowly."""
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner

import emo_mm  # noqa: F401  (registers the safe globals)


class _TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, x, mode='tensor'):
        out = self.linear(x)
        return dict(loss=out.square().mean()) if mode == 'loss' else out


class _Data(torch.utils.data.Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(x=torch.full((2, ), float(index)))


def make_runner(work_dir, max_iters, resume=False):
    return Runner(
        model=_TinyModel(), work_dir=str(work_dir), resume=resume,
        train_dataloader=dict(dataset=_Data(), sampler=dict(type='DefaultSampler', shuffle=True),
                              batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        randomness=dict(seed=0))


def test_save_then_resume_round_trip(tmp_path):
    first = make_runner(tmp_path, max_iters=2)
    first.train()
    saved = first.model.linear.weight.detach().clone()
    ckpt = tmp_path / 'iter_2.pth'
    assert ckpt.exists()
    # The default torch.load (weights_only=True in torch >= 2.6) reads it.
    loaded = torch.load(ckpt)
    assert 'message_hub' in loaded and 'optimizer' in loaded

    second = make_runner(tmp_path, max_iters=4, resume=True)
    second.load_or_resume()
    assert second.iter == 2
    assert torch.equal(second.model.linear.weight, saved)
    second.train()
    assert second.iter == 4


class _Payload:

    def __reduce__(self):
        return (print, ('this must never run',))


def test_other_pickled_objects_stay_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    with open(path, 'wb') as f:
        pickle.dump({'x': _Payload()}, f)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    class _GetattrPayload:

        def __reduce__(self):
            from mmengine.logging import HistoryBuffer
            return (getattr, (HistoryBuffer, 'update'))

    path = tmp_path / 'getattr.pth'
    torch.save({'x': _GetattrPayload()}, path)
    with pytest.raises(Exception, match='refusing getattr'):
        torch.load(path)
