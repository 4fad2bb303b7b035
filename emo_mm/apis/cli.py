"""Command-line front ends of ``tools/train.py`` and ``tools/test.py`` (mmdet 3.3's
arguments), shared by detection, segmentation and classification configs."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Optional, Sequence

from mmengine.config import Config, DictAction

from emo_mm.engine import (DataSampleError, EmoMMRunner, LauncherError, NonFiniteLossError,
                           TrainingInterrupted)
from emo_mm.engine.distributed import launcher_rank
from emo_mm.models import CheckpointMismatchError, EMOv2ArgumentError
from emo_mm.utils.safe_load import CheckpointReadError

from .config import load_config, prepare_test_config, prepare_train_config
from .errors import ToolError
from .tasks import TaskSpec

CFG_OPTIONS_HELP = (
    'override settings of the config: key=value pairs merged into it, e.g. '
    'model.backbone.arch=2m or train_dataloader.batch_size=8. A list value is '
    'key="[a,b]" or key=a,b; nested lists/tuples key="[(a,b),(c,d)]" (quotes needed, no '
    'spaces). The key must already exist in the config (list items by index: '
    'train_pipeline.1.scale); a top-level runner field such as randomness may be added, '
    'and +key=value adds any other key on purpose.')


# ----------------------------------------------------------------- argument parsers
def _add_common_args(parser: argparse.ArgumentParser) -> None:
    """--work-dir, --cfg-options, --launcher, --local-rank (train and test)."""
    parser.add_argument('--work-dir', help='folder for logs, checkpoints and dumped config '
                        '(default: work_dir of the config, else ./work_dirs/<config stem>)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    # torch.distributed.launch (torch >= 2.0) passes --local-rank, older ones --local_rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def build_train_parser() -> argparse.ArgumentParser:
    """Arguments of tools/train.py."""
    parser = argparse.ArgumentParser(
        description='Train a detector (mmdet), segmentor (mmseg) or classifier (mmpretrain); '
        "the config's default_scope picks which.")
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (AmpOptimWrapper, dynamic loss '
                        'scale); needs a GPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by total batch size / '
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint; without a path, from the latest '
                        'checkpoint in the work dir')
    _add_common_args(parser)
    return parser


def build_test_parser() -> argparse.ArgumentParser:
    """Arguments of tools/test.py."""
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a detector, segmentor or classifier.')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the predictions to this pickle file (.pkl)')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='save painted predictions under '
                        '<work_dir>/<timestamp>/<show_dir>')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each --show window stays up')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation '
                        '(tta_model/tta_pipeline of the config, else flip)')
    _add_common_args(parser)
    return parser


def parse_args(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse ``argv``; export LOCAL_RANK for launchers that only pass --local-rank."""
    args = parser.parse_args(argv)
    if hasattr(args, 'local_rank'):
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


# ----------------------------------------------------------------- commands
def build_runner(cfg: Config, spec: TaskSpec) -> Any:
    """``RUNNERS.build`` when the config sets ``runner_type``, else
    :class:`~emo_mm.engine.EmoMMRunner` (mmengine's Runner plus CPU distributed training,
    atomic and strict checkpoints, exact resume)."""
    spec.register_modules()
    if 'runner_type' in cfg:
        return spec.runners().build(cfg)
    return EmoMMRunner.from_cfg(cfg)


def run_train(args: argparse.Namespace) -> None:
    """tools/train.py."""
    cfg, spec = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    prepare_train_config(cfg, amp=args.amp, auto_scale_lr=args.auto_scale_lr,
                         resume=args.resume)
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
    return '\n'.join(lines)


def run_test(args: argparse.Namespace) -> None:
    """tools/test.py."""
    cfg, spec = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
    prepare_test_config(cfg, spec, args.checkpoint, out=args.out, show=args.show,
                        wait_time=args.wait_time, show_dir=args.show_dir, tta=args.tta)
    runner = build_runner(cfg, spec)
    if args.out is not None:
        runner.test_evaluator.metrics.append(spec.build_dump_metric(args.out))
    runner.test()


#: Exceptions that end a tool with a one-line message, and their exit codes: 2 for bad
#: input (files, config values, checkpoints, data), 1 for a training run that diverged, 3
#: for a run stopped by a signal after saving a checkpoint (``--resume`` continues it).
EXIT_CODES: tuple[tuple[type, int], ...] = (
    (TrainingInterrupted, 3),
    (NonFiniteLossError, 1),
    ((ToolError, FileNotFoundError, CheckpointMismatchError, CheckpointReadError,
      DataSampleError, EMOv2ArgumentError, LauncherError), 2),
)
#: Errors that may concern one rank only; the others are the same on every rank of a
#: multi-process job (same config, same files), so only rank 0 prints them.
RANK_SPECIFIC = (DataSampleError, )


def exit_code_of(err: BaseException) -> Optional[int]:
    """The exit code for an error the tools report as one line, else None."""
    for types, code in EXIT_CODES:
        if isinstance(err, types):
            return code
    return None


def describe_error(err: BaseException) -> str:
    """The one-line message for ``err`` (with the config key to fix, where we know it)."""
    if isinstance(err, EMOv2ArgumentError):
        return (f'model.backbone (EMOv2): {err}. Fix it in the config, or with --cfg-options '
                'model.backbone.<key>=<value>')
    return str(err)


def run_command(command: Callable[[argparse.Namespace], None],
                parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> int:
    """Run ``command``; a known error becomes ``<prog>: error: ...`` and its exit code
    (:data:`EXIT_CODES`); anything else is a bug and keeps its traceback."""
    args = parse_args(parser, argv)
    try:
        command(args)
    except Exception as err:  # noqa: BLE001 (re-raised unless it is a known error)
        code = exit_code_of(err)
        if code is None:
            raise
        rank = launcher_rank()
        if rank == 0 or isinstance(err, RANK_SPECIFIC):
            where = f' (rank {rank})' if rank else ''
            label = 'stopped' if isinstance(err, TrainingInterrupted) else 'error'
            print(f'{parser.prog}: {label}{where}: {describe_error(err)}', file=sys.stderr)
        return code
    return 0


def train_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of tools/train.py; returns the exit code."""
    return run_command(run_train, build_train_parser(), argv)


def test_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of tools/test.py; returns the exit code."""
    return run_command(run_test, build_test_parser(), argv)
