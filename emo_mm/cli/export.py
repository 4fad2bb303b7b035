"""``tools/deployment/export_aot.py``: compile a config's network ahead of time for CPU
inference (:func:`emo_mm.deploy.export_aot`), check the package against the eager model on
a random input, and time both side by side."""
from __future__ import annotations

import argparse
import copy
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.utils._pytree as pytree
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger

from emo_mm.analysis import time_round_robin
from emo_mm.checkpoint import CheckpointMismatchError, load_model
from emo_mm.deploy import PARTS, PartOf, export_aot

from .common import CFG_OPTIONS_HELP, ToolError, load_config, require_file, run_command


def build_export_parser() -> argparse.ArgumentParser:
    """Arguments of tools/deployment/export_aot.py."""
    parser = argparse.ArgumentParser(
        description="Compile a config's model (or its backbone) ahead of time with "
        'AOTInductor for CPU inference; check it against the eager model and time both.')
    parser.add_argument('config', help='detection, segmentation or classification config')
    parser.add_argument('checkpoint', nargs='?',
                        help="a checkpoint of the config's model (tools/train.py output, or an "
                        'official classification checkpoint for a classification config); '
                        "without it the package holds the config's initial weights")
    parser.add_argument('--part', choices=list(PARTS), default='model',
                        help='what to compile: ' + '; '.join(f'{k}: {v}' for k, v in PARTS.items()))
    parser.add_argument('--shape', type=int, nargs='+', default=[224], metavar='SIZE',
                        help='input height [width] the package is compiled for (default 224)')
    parser.add_argument('--batch', type=int, default=1, help='batch size compiled for')
    parser.add_argument('--out', help='package path (.pt2; default: '
                        '<work_dir>/<config stem>_<part>_<N>x3x<H>x<W>.pt2)')
    parser.add_argument('--work-dir', help="default folder of the package (default: the "
                        "config's work_dir, else ./work_dirs/<config stem>)")
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest accepted difference package vs eager, as a fraction of '
                        'the largest output magnitude (default 1e-4)')
    parser.add_argument('--runs', type=int, default=10,
                        help='timed calls of eager model and package, interleaved (0: no timing)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)
    return parser


def input_shape(args: argparse.Namespace) -> tuple[int, int, int, int]:
    """``(N, 3, H, W)`` from ``--batch`` and ``--shape``."""
    if len(args.shape) > 2 or min(args.shape) < 1 or args.batch < 1:
        raise ToolError(f'--shape takes a height and optionally a width and --batch a count, '
                        f'all positive; got --shape {args.shape} --batch {args.batch}')
    height, width = (args.shape * 2)[:2]
    return args.batch, 3, height, width


def package_path(args: argparse.Namespace, cfg: Config, shape: Sequence[int]) -> Path:
    """``--out``, else a name in the work dir that says what was compiled."""
    if args.out is not None:
        if not args.out.endswith('.pt2'):
            raise ToolError(f'--out must end with .pt2 (an AOTInductor package), got {args.out}')
        return Path(args.out)
    stem = Path(args.config).stem
    return Path(cfg.work_dir) / f"{stem}_{args.part}_{'x'.join(map(str, shape))}.pt2"


def preprocessing(cfg: Config) -> dict:
    """What the model's data preprocessor does to images before the network (the package
    expects inputs prepared the same way)."""
    dp = cfg.model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    rgb = bool(dp.get('bgr_to_rgb', dp.get('to_rgb', False)))
    return dict(mean=list(dp.get('mean') or []), std=list(dp.get('std') or []),
                channels='RGB (from BGR)' if rgb else 'as loaded')


def select_part(model: nn.Module, part: str) -> nn.Module:
    """The module ``--part`` compiles."""
    if part == 'backbone':
        if not isinstance(getattr(model, 'backbone', None), nn.Module):
            raise ToolError(f'--part backbone: {type(model).__name__} has no backbone')
        return model.backbone
    if part == 'features' and not hasattr(model, 'extract_feat'):
        raise ToolError(f'--part features: {type(model).__name__} has no extract_feat')
    return PartOf(model, part)


def guarded(what: str, hint: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; any failure becomes a one-line ``ToolError`` saying what failed."""
    try:
        return fn()
    except (ToolError, FileNotFoundError, CheckpointMismatchError, KeyboardInterrupt):
        raise
    except Exception as err:  # noqa: BLE001 - reported, with the cause chained
        first_line = (str(err).strip().splitlines() or [''])[0][:1000]
        message = f'{what}: {type(err).__name__}: {first_line}'
        raise ToolError(f'{message}. {hint}' if hint else message) from err


def max_difference(outputs: Any, expected: Any) -> tuple[float, float]:
    """Largest absolute difference between two output structures, and the largest
    magnitude of ``expected``."""
    got, want = pytree.tree_leaves(outputs), pytree.tree_leaves(expected)
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        raise ToolError('the package returns outputs of other shapes than the eager model: '
                        f'{[tuple(t.shape) for t in got]} vs {[tuple(t.shape) for t in want]}')
    diff = max((g - w).abs().max().item() for g, w in zip(got, want))
    scale = max(w.abs().max().item() for w in want)
    return diff, scale


def describe_outputs(outputs: Any) -> str:
    """Shapes of the output tensors, e.g. ``1x64x28x28, 1x128x14x14``."""
    return ', '.join('x'.join(map(str, t.shape)) for t in pytree.tree_leaves(outputs))


def load_weights(model: nn.Module, checkpoint: Optional[str]) -> str:
    """Load ``checkpoint`` strictly, or initialise from the config; says which."""
    if checkpoint is not None:
        require_file(checkpoint, 'checkpoint')
        load_model(model, checkpoint)
        return checkpoint
    # mmengine logs every parameter's initialiser at INFO: keep warnings only.
    MMLogger.get_instance('emo_mm_export_aot', log_level='WARNING')
    model.init_weights()
    weights = "the config's initial weights (init_cfg)"
    print(f'warning: no checkpoint given; the package holds {weights}')
    return weights


def compile_checked(module: nn.Module, example: torch.Tensor, expected: Any, out: Path,
                    tolerance: float, metadata: dict, hint: str) -> tuple[Any, float, float]:
    """Compile ``module`` into a staging file, compare it with ``expected`` and only then
    move it to ``out`` (a failed or wrong export leaves an existing package untouched).
    Returns the loaded package, the largest difference and the largest output."""
    staging = out.with_name(f'.{out.stem}.unchecked-{os.getpid()}.pt2')
    try:
        runner = guarded('torch.export / AOTInductor failed', hint,
                         lambda: export_aot(module, example, staging, metadata=metadata))
        diff, scale = max_difference(runner(example), expected)
        if diff > tolerance * scale:
            raise ToolError(f'the compiled package differs from the eager model by {diff:.3g} '
                            f'(largest output {scale:.3g}, --tolerance {tolerance} of it); '
                            f'{out} was not written')
        os.replace(staging, out)
    finally:
        staging.unlink(missing_ok=True)
    return runner, diff, scale


def run_export(args: argparse.Namespace) -> None:
    """tools/deployment/export_aot.py."""
    shape = input_shape(args)
    shape_text = 'x'.join(map(str, shape))
    cfg, spec = load_config(args.config, args.cfg_options, 'none', args.work_dir)
    out = package_path(args, cfg, shape)
    model = guarded('cannot build the model of the config', 'Check model= in the config.',
                    lambda: spec.build_model(cfg))
    weights = load_weights(model, args.checkpoint)
    module = select_part(model.eval(), args.part)
    hint = {'model': 'Try --part features or --part backbone.',
            'features': 'Try --part backbone.', 'backbone': ''}[args.part]

    example = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = guarded(f'--part {args.part} of {type(model).__name__} cannot run on a '
                           f'{shape_text} tensor alone', hint, lambda: module(example))
    eager = copy.deepcopy(module)          # export_aot folds ``module`` in place
    prep = preprocessing(cfg)
    metadata = {'emo_mm.config': str(args.config), 'emo_mm.weights': str(weights),
                'emo_mm.part': args.part, 'emo_mm.preprocessing': json.dumps(prep)}
    runner, diff, scale = compile_checked(module, example, expected, out, args.tolerance,
                                          metadata, hint)

    print(f'AOTInductor package: {out} ({out.stat().st_size / 2**20:.1f} MiB)')
    print(f'  compiled: --part {args.part} of {type(model).__name__}, weights: {weights}')
    print(f"  input:    float32 {shape_text} (exactly), normalised as the data preprocessor "
          f"does: mean {prep['mean']}, std {prep['std']}, channels {prep['channels']}")
    print(f'  outputs:  {describe_outputs(expected)}')
    print(f'  check:    max |package - eager| = {diff:.3g}, {diff / max(scale, 1e-30):.2g} of the '
          f'largest output ({scale:.3g})')
    if args.runs > 0:
        with torch.no_grad():
            medians = time_round_robin({'eager': lambda: eager(example),
                                        'package': lambda: runner(example)},
                                       runs=args.runs, warmup=2)
        print(f"  time:     eager {medians['eager'] * 1e3:.2f} ms, package "
              f"{medians['package'] * 1e3:.2f} ms ({medians['eager'] / medians['package']:.2f}x; "
              f'medians of {args.runs} interleaved calls, {torch.get_num_threads()} threads)')
    print(f"Load it with: from emo_mm.deploy import load_aot; load_aot('{out}')(images)")


def export_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of tools/deployment/export_aot.py; returns the exit code."""
    return run_command(run_export, build_export_parser(), argv)
