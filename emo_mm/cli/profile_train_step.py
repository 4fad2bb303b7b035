"""``tools/analysis/profile_train_step.py``: where a config's training step spends its time.

Builds the config's runner (model, optimizer wrapper, train loader) as ``tools/train.py``
does, takes real batches from the train loader, runs ``model.train_step`` on them and prints
the ops' self CPU time by kind (:mod:`emo_mm.analysis.op_profile`), with ``--amp`` as in
training. Nothing is written to the config's work_dir.
"""
from __future__ import annotations

import argparse
import itertools
import os
import tempfile
from typing import Any, Optional, Sequence

import torch
from mmengine.config import DictAction

from emo_mm.analysis.op_profile import format_profile, profile_step
from emo_mm.deploy.precision import matrix_units

from .common import CFG_OPTIONS_HELP, ToolError, build_runner, load_config, run_command
from .train import prepare_train_config


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='profile_train_step.py',
        description="Time a config's training step on real batches of its train loader and "
                    'print where the time goes, by kind of op (torch.profiler).')
    parser.add_argument('config')
    parser.add_argument('--steps', type=int, default=10, help='timed and profiled steps '
                        '(each; default: %(default)s)')
    parser.add_argument('--warmup', type=int, default=3, help='steps run first, not counted '
                        '(default: %(default)s)')
    parser.add_argument('--amp', action='store_true', help='as tools/train.py --amp (bfloat16 '
                        'autocast on a CPU)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--trace', default=None, help='also write a Chrome trace of the '
                        'profiled steps to this .json file (chrome://tracing, Perfetto)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)
    return parser


def _batches(loader: Any, count: int) -> list:
    """``count`` batches of ``loader``, cycling through it when it has fewer."""
    batches = list(itertools.islice(loader, count))
    if not batches:
        raise ToolError('the train loader gave no batch: check train_dataloader in the config')
    return [batches[i % len(batches)] for i in range(count)]


def profile_train_step(args: argparse.Namespace) -> None:
    if args.steps < 1 or args.warmup < 0:
        raise ToolError(f'--steps must be >= 1 and --warmup >= 0 (got {args.steps} and '
                        f'{args.warmup})')
    if args.trace and not os.path.isdir(os.path.dirname(os.path.abspath(args.trace))):
        raise ToolError(f'--trace {args.trace}: its folder does not exist; create it or pick '
                        'another path')
    if args.threads is not None:
        if args.threads < 1:
            raise ToolError(f'--threads must be >= 1 (got {args.threads})')
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix='profile_train_step_') as work_dir:
        cfg, spec = load_config(args.config, args.cfg_options, 'none', work_dir)
        prepare_train_config(cfg, amp=args.amp, auto_scale_lr=False, resume=None)
        cfg.log_level = 'WARNING'  # no config dump or per-parameter lines before the table
        runner = build_runner(cfg, spec)
        model, optim_wrapper = runner.model, runner.build_optim_wrapper(cfg.optim_wrapper)
        if hasattr(model, 'init_weights'):
            model.init_weights()
        model.train()
        batches = _batches(runner.train_dataloader, args.warmup + 2 * args.steps)
        result = profile_step(lambda i: model.train_step(batches[i], optim_wrapper),
                              steps=args.steps, warmup=args.warmup, trace_path=args.trace)
    units = ', '.join(name for name, present in matrix_units().items() if present) or 'none'
    print(f'{args.config}: {type(optim_wrapper).__name__}, {torch.get_num_threads()} threads, '
          f'batch size {cfg.train_dataloader.batch_size}; this CPU\'s bf16 / int8 '
          f'instructions: {units}')
    print(format_profile(result))
    if args.trace:
        print(f'trace: {args.trace}')


def profile_train_step_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tools/analysis/profile_train_step.py``."""
    return run_command(profile_train_step, build_parser(), argv)
