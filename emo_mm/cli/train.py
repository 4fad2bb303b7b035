"""``tools/train.py``: train a detector, segmentor or classifier from a config (mmdet 3.3's
arguments; the config's ``default_scope`` picks the task)."""
from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import Mapping
from typing import Any, Optional, Sequence

from mmengine.config import Config

from emo_mm.deploy.precision import FAST_FLAGS
from emo_mm.engine import PlotCurvesHook, cpu_has_bf16
from emo_mm.engine.distributed import accelerator_available

from .common import (ToolError, add_common_args, add_deploy_form_arg, build_runner,
                     check_data_roots, enable_deploy_form, load_config, require_file, run_command)


def build_train_parser() -> argparse.ArgumentParser:
    """Arguments of tools/train.py."""
    parser = argparse.ArgumentParser(
        description='Train a detector (mmdet), segmentor (mmseg) or classifier (mmpretrain); '
        "the config's default_scope picks which.")
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision: on a GPU AmpOptimWrapper (float16, '
                        'dynamic loss scale); on a CPU with bfloat16 instructions '
                        'CpuBf16OptimWrapper (bfloat16 autocast, no loss scale)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by total batch size / '
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint; without a path, from the latest '
                        'checkpoint in the work dir')
    parser.add_argument('--tensorboard', action='store_true',
                        help='also log to TensorBoard (TensorboardVisBackend): event files in '
                        '<work_dir>/<timestamp>/vis_data, view with tensorboard --logdir WORK_DIR')
    add_deploy_form_arg(parser, 'validation')
    add_common_args(parser)
    return parser


TENSORBOARD_BACKEND = 'TensorboardVisBackend'


def enable_tensorboard(cfg: Config) -> None:
    """``--tensorboard``: add mmengine's ``TensorboardVisBackend`` to the visualizer's
    backends (its ``LocalVisBackend`` stays); the ``tensorboard`` package must be installed."""
    if importlib.util.find_spec('tensorboard') is None:
        raise ToolError('--tensorboard needs the tensorboard package, which is not installed: '
                        'run tools/install.sh, or pip install the tensorboard version of '
                        'requirements/pinned.txt')
    visualizer = cfg.get('visualizer')
    if visualizer is None:   # what the runner would build, plus TensorBoard
        visualizer = cfg.visualizer = dict(type='Visualizer',
                                           vis_backends=[dict(type='LocalVisBackend')])
    if not isinstance(visualizer, Mapping):
        raise ToolError('--tensorboard needs `visualizer` to be a dict in the config')
    backends = list(visualizer.get('vis_backends') or [])
    if not any(isinstance(b, Mapping) and str(b.get('type', '')).split('.')[-1] ==
               TENSORBOARD_BACKEND for b in backends):
        backends.append(dict(type=TENSORBOARD_BACKEND))
    visualizer['vis_backends'] = backends


def enable_amp(cfg: Config) -> None:
    """``--amp``: ``AmpOptimWrapper`` with dynamic loss scaling on an accelerator; on a CPU,
    bfloat16 autocast (:class:`~emo_mm.engine.CpuBf16OptimWrapper`) where it has the
    instructions."""
    if not isinstance(cfg.get('optim_wrapper'), Mapping):
        raise ToolError('--amp needs an `optim_wrapper` dict in the config')
    if accelerator_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
        return
    if not cpu_has_bf16():
        raise ToolError(f'--amp on a CPU trains in bfloat16, and this CPU has none of '
                        f'{", ".join(FAST_FLAGS["bf16"])}: torch would emulate it, slower than '
                        'float32. Run without --amp.')
    cfg.optim_wrapper.type = 'CpuBf16OptimWrapper'
    cfg.optim_wrapper.pop('loss_scale', None)
    cfg.optim_wrapper.pop('dtype', None)


def enable_auto_scale_lr(cfg: Config) -> None:
    """``--auto-scale-lr``: needs ``auto_scale_lr=dict(base_batch_size=N)`` in the config."""
    auto_scale_lr = cfg.get('auto_scale_lr')
    if not isinstance(auto_scale_lr, Mapping) or 'base_batch_size' not in auto_scale_lr:
        raise ToolError('--auto-scale-lr needs `auto_scale_lr = dict(enable=False, '
                        'base_batch_size=N)` in the config (N: the total batch size the '
                        'learning rate was tuned for); this config has none')
    auto_scale_lr['enable'] = True


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """``--resume`` alone: latest checkpoint in work_dir; ``--resume CKPT``: that file."""
    if resume is None:
        return
    cfg.resume = True
    if resume == 'auto':
        cfg.load_from = None
    else:
        require_file(resume, 'checkpoint to resume from')
        cfg.load_from = resume


def train_loader_keys(cfg: Config) -> list[str]:
    """Dataloaders ``runner.train()`` builds (validation only when it is configured)."""
    keys = ['train_dataloader']
    if cfg.get('val_cfg') is not None and cfg.get('val_dataloader') is not None:
        keys.append('val_dataloader')
    return keys


def prepare_train_config(cfg: Config, amp: bool, auto_scale_lr: bool,
                         resume: Optional[str], tensorboard: bool = False) -> None:
    """Apply the training switches, then check the data folders."""
    if amp:
        enable_amp(cfg)
    if auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if tensorboard:
        enable_tensorboard(cfg)
    set_resume(cfg, resume)
    check_data_roots(cfg, train_loader_keys(cfg))


def run_train(args: argparse.Namespace) -> None:
    """tools/train.py."""
    cfg, spec = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    prepare_train_config(cfg, amp=args.amp, auto_scale_lr=args.auto_scale_lr,
                         resume=args.resume, tensorboard=args.tensorboard)
    enable_deploy_form(cfg, args.deploy_form)
    runner = build_runner(cfg, spec)
    runner.train()
    if runner.rank == 0:
        print(training_summary(runner))


def training_summary(runner: Any) -> str:
    """The last validation metrics and where the run's files are."""
    scalars = runner.message_hub.log_scalars
    metrics = {key[len('val/'):]: buffer.current() for key, buffer in scalars.items()
               if key.startswith('val/') and key not in ('val/time', 'val/data_time')}
    lines = [f'Finished {runner.iter} iterations; work_dir: {runner.work_dir}']
    if metrics:
        lines.append('Last validation: ' + ', '.join(f'{k}={v:.4f}' for k, v in metrics.items()))
    vis_dir = os.path.join(runner.log_dir, 'vis_data', 'vis_image')
    if os.path.isdir(vis_dir):
        lines.append(f'Prediction images: {vis_dir}')
    curves = [hook.written for hook in runner.hooks
              if isinstance(hook, PlotCurvesHook) and hook.written]
    if curves:
        lines.append(f'Curves: {curves[-1]}')
    if any(type(backend).__name__ == TENSORBOARD_BACKEND
           for backend in getattr(runner.visualizer, '_vis_backends', {}).values()):
        lines.append('TensorBoard: tensorboard --logdir '
                     f"{os.path.join(runner.log_dir, 'vis_data')}")
    return '\n'.join(lines)


def train_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of tools/train.py; returns the exit code."""
    return run_command(run_train, build_train_parser(), argv)
