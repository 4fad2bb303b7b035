"""Hooks that make a training run trustworthy: exact resume, a stop on a non-finite loss,
and a checkpoint when the job is told to stop (Slurm preemption, time limit, SIGTERM).

:class:`~emo_mm.engine.EmoMMRunner` registers all three; a config can list any of them
in ``custom_hooks`` to change its arguments.
"""
from __future__ import annotations

import logging
import math
import os
import os.path as osp
import random
import signal
from typing import Any, Optional, Sequence

import numpy as np
import torch
from mmengine.dist import all_reduce, barrier, get_rank, is_distributed, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from .checkpoints import write_last_checkpoint, write_text_atomically
from .data import ResumableBatchSampler, sample_seed

#: Key of the exact-resume state in a checkpoint's ``meta``.
RESUME_META_KEY = 'exact_resume'
#: Environment variable naming a file that rank 0 writes (the stop message) once a signal
#: stop has saved its checkpoint: ``tools/slurm_sbatch.sh`` reads it to requeue the job even
#: when srun, seeing one rank exit with 3, killed the others before they exited themselves.
STOP_FILE_ENV = 'EMO_MM_STOP_FILE'
#: Stream id that keeps the model's per-iteration seeds apart from the samples' seeds.
_MODEL_STREAM = 0x4D4F444C


def resumable_batch_sampler(runner: Any) -> Optional[ResumableBatchSampler]:
    """The training loader's :class:`ResumableBatchSampler`, if EmoMMRunner built it."""
    sampler = getattr(runner.train_loop.dataloader, 'batch_sampler', None)
    return sampler if isinstance(sampler, ResumableBatchSampler) else None


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on at least one (one all-reduce)."""
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0])
    all_reduce(value, op='max')
    return bool(value.item() > 0)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Resume a run so that it ends with the same weights as an uninterrupted one.

    * The model's random numbers (drop path, batch augmentations in the data
      preprocessor, ...) are seeded per iteration from ``(seed, iteration)`` (and the rank
      when ``randomness.diff_rank_seed``), so they do not depend on what ran before.
    * Each checkpoint records how many batches of the current epoch were trained; a
      resumed epoch-based run skips exactly those, an iteration-based one skips the
      iterations it has done without loading their data (see
      :class:`~emo_mm.engine.data.ResumableBatchSampler`), and both draw the same
      augmentations as the uninterrupted run.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._resume_state: Optional[dict] = None
        self._epoch_in_progress: Optional[int] = None
        self._epoch_start_iter = 0
        self._drop_next_epoch = 0

    # ---------------------------------------------------------------- resume
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._resume_state = (checkpoint.get('meta') or {}).get(RESUME_META_KEY) or {}

    def before_train(self, runner) -> None:
        sampler = resumable_batch_sampler(runner)
        if sampler is None:
            print_log('ExactResumeHook: the training dataloader was not built by EmoMMRunner, '
                      'so augmentations depend on the worker state and a resumed run does not '
                      'repeat the uninterrupted one exactly', logger='current',
                      level=logging.WARNING)
            return
        sampler.set_seed(runner.seed)
        state, self._resume_state = self._resume_state, None
        if state is None or not runner._resume:  # noqa: SLF001 (a load_from is no resume)
            return
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop):
            sampler.resume_iterations(loop.iter)
        elif isinstance(loop, EpochBasedTrainLoop):
            done = state.get('batches', 0) if state.get('batches_epoch') == loop.epoch else 0
            sampler.resume_epoch(loop.epoch, done)
            self._drop_next_epoch = done
        else:
            print_log(f'ExactResumeHook: {type(loop).__name__} is neither an epoch- nor an '
                      'iteration-based loop; the data position is not restored',
                      logger='current', level=logging.WARNING)

    # ---------------------------------------------------------------- progress
    def before_train_epoch(self, runner) -> None:
        self._epoch_in_progress = runner.epoch
        self._epoch_start_iter = runner.iter - self._drop_next_epoch
        self._drop_next_epoch = 0

    def after_train_epoch(self, runner) -> None:
        self._epoch_in_progress = None

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        diff_rank = runner._randomness_cfg.get('diff_rank_seed', False)  # noqa: SLF001
        seed = sample_seed(runner.seed, _MODEL_STREAM, runner.iter,
                           get_rank() if diff_rank else 0)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        epoch, done_iters = meta.get('epoch', runner.epoch), meta.get('iter', runner.iter)
        in_epoch = self._epoch_in_progress is not None and epoch == self._epoch_in_progress
        meta[RESUME_META_KEY] = dict(
            batches_epoch=epoch,
            batches=done_iters - self._epoch_start_iter if in_epoch else 0)


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


def _as_float(value: Any) -> Optional[float]:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach())
    if isinstance(value, (int, float)):
        return float(value)
    return None


@HOOKS.register_module()
class StopOnNonFiniteLossHook(Hook):
    """Stop training with :class:`NonFiniteLossError` as soon as a loss is NaN or inf.

    It runs before the checkpoint and EMA hooks of the same iteration, so the broken
    weights are never saved and the last checkpoint stays the last good one. All ranks
    stop together.
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        losses = {key: _as_float(value) for key, value in (outputs or {}).items()
                  if 'loss' in key}
        losses = {key: value for key, value in losses.items() if value is not None}
        bad = any(not math.isfinite(value) for value in losses.values())
        if not any_rank(bad):
            return
        terms = ', '.join(f'{key}={value:.4g}' for key, value in losses.items())
        where = f'rank {get_rank()}: ' if is_distributed() else ''
        last = runner.message_hub.get_info('last_ckpt')
        kept = f'the last good checkpoint is {last}' if last else 'no checkpoint was saved yet'
        raise NonFiniteLossError(
            f'{where}the loss is not finite at iteration {runner.iter + 1} '
            f"({terms or 'another rank'}); training stopped before saving these weights, and "
            f'{kept}. Lower the learning rate or clip the gradients '
            '(optim_wrapper.clip_grad=dict(max_norm=...)), then train again')


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal after writing a checkpoint to resume from."""


@HOOKS.register_module()
class CheckpointOnSignalHook(Hook):
    """On one of ``signals``, finish the current iteration, write a checkpoint, and stop
    with :class:`TrainingInterrupted`; ``--resume`` continues from it.

    Slurm sends SIGTERM when it preempts or requeues a job (then SIGKILL after
    ``KillWait`` seconds), and ``sbatch --signal=USR1@SECONDS`` sends SIGUSR1 that long
    before the time limit (``tools/slurm_sbatch.sh``). All ranks stop at the same
    iteration; only rank 0 writes, and, where the environment names one
    (:data:`STOP_FILE_ENV`), also the stop message to that file, before any rank exits.
    """

    priority = 'LOWEST'  # after the scheduler, EMA and checkpoint hooks of the iteration

    def __init__(self, signals: Sequence[str] = ('SIGTERM', 'SIGUSR1')) -> None:
        self.signals = [getattr(signal, name) for name in signals]
        self._received: Optional[int] = None
        self._previous: dict = {}
        self._training = False

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._received = signum

    def before_train(self, runner) -> None:
        self._training = True
        for signum in self.signals:
            try:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread: signals cannot be caught here
                return

    def after_train(self, runner) -> None:
        self._training = False
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        self._maybe_stop(runner, epoch=runner.epoch, done_iters=runner.iter + 1)

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        if self._training:  # validation inside training (long ones may hold a signal)
            self._maybe_stop(runner, epoch=runner.epoch, done_iters=runner.iter)

    def _maybe_stop(self, runner, epoch: int, done_iters: int) -> None:
        if not any_rank(self._received is not None):
            return
        name = signal.Signals(self._received).name if self._received else 'a signal'
        out_dir = runner.work_dir
        backend_args = None
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook):
                out_dir = getattr(hook, 'out_dir', out_dir)
                backend_args = hook.backend_args
        filename = f'iter_{done_iters}.pth'
        runner.save_checkpoint(out_dir, filename, meta=dict(epoch=epoch, iter=done_iters),
                               by_epoch=False, backend_args=backend_args)
        path = osp.join(out_dir, filename)
        runner.message_hub.update_info('last_ckpt', path)
        message = (f'received {name}: stopped after iteration {done_iters} and saved {path}; '
                   'continue with the same command plus --resume')
        if is_main_process():
            write_last_checkpoint(runner.work_dir, path)
            stop_file = os.environ.get(STOP_FILE_ENV)
            if stop_file:
                write_text_atomically(stop_file, message + '\n')
        print_log(message, logger='current', level=logging.WARNING)
        if is_distributed():
            barrier()  # no rank exits (and makes the launcher kill the rest) before the save
        raise TrainingInterrupted(message)
