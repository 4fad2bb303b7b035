"""The export tools. ``tools/deployment/export_aot.py`` compiles a config's network ahead of
time for CPU inference (:func:`emo_mm.deploy.export_aot`), checks the package against the eager
model on a random input and times both side by side. ``tools/deployment/export_onnx.py``
exports it to ONNX with dynamic batch, height and width (:func:`emo_mm.deploy.export_onnx`)
and checks ONNX Runtime against the eager model on several input sizes; ``--int8`` adds an
int8 file calibrated on training images (:func:`emo_mm.deploy.quantize_onnx_int8`)."""
from __future__ import annotations

import argparse
import copy
import json
import os
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils._pytree as pytree
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from emo_mm.analysis import time_round_robin
from emo_mm.checkpoint import CheckpointMismatchError, load_model
from emo_mm.deploy import (PARTS, DetectionsOf, FixedSizeError, OnnxModel, PartOf,
                           PredictionsOf, export_aot, export_onnx, is_one_stage_detector,
                           match_detections, quantize_onnx_int8)
from emo_mm.engine.precision_hook import calibration_images

from .common import (CFG_OPTIONS_HELP, TaskSpec, ToolError, check_data_roots, dataset_meta,
                     load_config, require_file, run_command)


def add_model_arguments(parser: argparse.ArgumentParser, verb: str, product: str,
                        extra: str = '') -> None:
    """CONFIG, [CHECKPOINT] and --part, shared by the export tools."""
    parser.add_argument('config', help='detection, segmentation or classification config')
    parser.add_argument('checkpoint', nargs='?',
                        help="a checkpoint of the config's model (tools/train.py output, or an "
                        'official classification checkpoint for a classification config); '
                        f"without it {product} holds the config's initial weights")
    parser.add_argument('--part', choices=list(PARTS), default='model',
                        help=f'what to {verb}: ' + '; '.join(f'{k}: {v}' for k, v in PARTS.items())
                        + extra)


def build_export_parser() -> argparse.ArgumentParser:
    """Arguments of tools/deployment/export_aot.py."""
    parser = argparse.ArgumentParser(
        description="Compile a config's model (or its backbone) ahead of time with "
        'AOTInductor for CPU inference; check it against the eager model and time both.')
    add_model_arguments(parser, 'compile', 'the package')
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


# ----------------------------------------------------------------- ONNX
def build_export_onnx_parser() -> argparse.ArgumentParser:
    """Arguments of tools/deployment/export_onnx.py."""
    parser = argparse.ArgumentParser(
        description="Export a config's model (or its backbone) to ONNX with dynamic batch, "
        'height and width; check ONNX Runtime against the eager model on several sizes.')
    add_model_arguments(parser, 'export', 'the file', extra='. A classifier adds its softmax '
                        'scores, a segmentor its logits at input size and the label map')
    parser.add_argument('--shape', type=int, nargs='+', default=[224], metavar='SIZE',
                        help='height [width] of the example input traced (default 224)')
    parser.add_argument('--check', nargs='+', default=['224', '250x330', '512'], metavar='HxW',
                        help='input sizes ONNX Runtime is checked on (default 224 250x330 512; with '
                        '--static, the example shape only)')
    parser.add_argument('--static', action='store_true',
                        help="fix the example's shape in the graph (default: dynamic N, H, W)")
    parser.add_argument('--out', help='ONNX file (default: <work_dir>/<config stem>_<part>.onnx)')
    parser.add_argument('--work-dir', help="default folder of the file (default: the config's "
                        'work_dir, else ./work_dirs/<config stem>)')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest accepted difference ONNX Runtime vs eager, as a fraction of '
                        'the largest output magnitude (default 1e-4)')
    parser.add_argument('--int8', action='store_true',
                        help='also write <out>_int8.onnx: ONNX Runtime static int8 quantization '
                        '(QDQ) calibrated on --calib-images training images, checked against the '
                        'eager float32 model on some of them')
    parser.add_argument('--calib-images', type=int, default=256,
                        help='training images that calibrate --int8 (default 256)')
    parser.add_argument('--int8-tolerance', type=float, default=0.25,
                        help='largest accepted difference int8 vs eager float32, as a fraction of '
                        'the largest output (default 0.25: a guard against a broken quantization, '
                        'not an accuracy test); label maps equal at 95%% at least')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=CFG_OPTIONS_HELP)
    return parser


def check_sizes(args: argparse.Namespace) -> list[tuple[int, int]]:
    """``--check`` as ``(H, W)`` pairs (``S`` means ``SxS``)."""
    sizes = []
    for text in args.check:
        parts = text.lower().split('x')
        if len(parts) > 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise ToolError(f'--check takes sizes as H or HxW (positive integers), got {text!r}')
        sizes.append((int(parts[0]), int(parts[-1])))
    return sizes


def onnx_path(args: argparse.Namespace, cfg: Config) -> Path:
    """``--out``, else a name in the work dir that says what was exported."""
    if args.out is not None:
        if not args.out.endswith('.onnx'):
            raise ToolError(f'--out must end with .onnx, got {args.out}')
        return Path(args.out)
    return Path(cfg.work_dir) / f'{Path(args.config).stem}_{args.part}.onnx'


def onnx_part(model: nn.Module, part: str, spec: TaskSpec) -> nn.Module:
    """The module ``--part`` exports: the raw part, and for ``model`` the task's readable
    outputs as well (:class:`~emo_mm.deploy.PredictionsOf`; a one-stage detector's whole
    prediction, :class:`~emo_mm.deploy.DetectionsOf`)."""
    if part == 'model':
        if spec.scope == 'mmdet' and is_one_stage_detector(model):
            return DetectionsOf(model)
        return PredictionsOf(model, spec.scope)
    return select_part(model, part)


def compare_outputs(got: list, expected: Any, tolerance: float, min_same: float = 0.999) -> str:
    """Float outputs within ``tolerance`` of the largest one; integer outputs (label maps)
    equal at ``min_same`` of the positions at least. Returns a summary, raises ToolError
    otherwise."""
    want = pytree.tree_leaves(expected)
    if len(got) != len(want) or any(tuple(g.shape) != tuple(w.shape) for g, w in zip(got, want)):
        raise ToolError('ONNX Runtime returns outputs of other shapes than the eager model: '
                        f'{[tuple(g.shape) for g in got]} vs {[tuple(w.shape) for w in want]}')
    floats = [(torch.from_numpy(g), w) for g, w in zip(got, want) if w.is_floating_point()]
    labels = [(torch.from_numpy(g), w) for g, w in zip(got, want) if not w.is_floating_point()]
    diff = max((g - w).abs().max().item() for g, w in floats)
    scale = max(w.abs().max().item() for _, w in floats)
    if diff > tolerance * scale:
        raise ToolError(f'ONNX Runtime differs from the eager model by {diff:.3g} (largest output '
                        f'{scale:.3g}, tolerance {tolerance} of it)')
    summary = f'max diff {diff:.3g} ({diff / max(scale, 1e-30):.2g} of {scale:.3g})'
    for g, w in labels:
        same = (g == w).double().mean().item()
        if same < min_same:
            raise ToolError(f'ONNX Runtime labels equal the eager ones at {same:.2%} of the '
                            f'positions only (at least {min_same:.1%} wanted)')
        summary += f', labels equal at {same:.2%}'
    return summary


def compare_detections(got: list, expected: Any) -> str:
    """:func:`~emo_mm.deploy.match_detections`, as a ToolError when they differ."""
    try:
        return match_detections(got, expected)
    except ValueError as error:
        raise ToolError(f'ONNX Runtime detects other boxes than the eager model: {error}') from None


def run_export_onnx(args: argparse.Namespace) -> None:
    """tools/deployment/export_onnx.py."""
    height, width = (args.shape * 2)[:2]
    # A static graph takes the example's shape only: it is checked at that shape.
    sizes = [(height, width)] if args.static else check_sizes(args)
    cfg, spec = load_config(args.config, args.cfg_options, 'none', args.work_dir)
    out = onnx_path(args, cfg)
    model = guarded('cannot build the model of the config', 'Check model= in the config.',
                    lambda: spec.build_model(cfg))
    weights = load_weights(model, args.checkpoint)
    module = onnx_part(model.eval(), args.part, spec)
    detections = isinstance(module, DetectionsOf)
    if args.int8:
        check_int8_args(args, cfg, detections)
    hint = {'model': 'Try --part features or --part backbone.',
            'features': 'Try --part backbone.', 'backbone': ''}[args.part]
    example = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    inputs = {size: torch.randn(2 if i == 1 else 1, 3, *size,
                                generator=torch.Generator().manual_seed(i + 1))
              for i, size in enumerate(sizes)}
    with torch.no_grad():
        expected = {size: guarded(f'--part {args.part} of {type(model).__name__} cannot run on a '
                                  f'{x.shape[2]}x{x.shape[3]} input', hint, lambda x=x: module(x))
                    for size, x in inputs.items()}
    prep = preprocessing(cfg)
    metadata = {'emo_mm.config': str(args.config), 'emo_mm.weights': str(weights),
                'emo_mm.part': args.part, 'emo_mm.preprocessing': json.dumps(prep)}
    if args.part == 'model':
        metadata['emo_mm.classes'] = json.dumps(list(dataset_meta(cfg, spec, args.checkpoint)['classes']))
    names = module.output_names() if isinstance(module, (PredictionsOf, DetectionsOf)) else ()
    staging = out.with_name(f'.{out.stem}.unchecked-{os.getpid()}.onnx')
    try:
        def export() -> None:
            try:
                export_onnx(module, example, staging, output_names=names or None,
                            dynamic=not args.static, metadata=metadata)
            except FixedSizeError as error:
                raise ToolError(f'dynamic export: {error}. Export with a larger --shape, or add '
                                '--static') from None

        guarded('torch.onnx.export failed', hint, export)
        session = OnnxModel(staging)
        checks = []
        for size, x in inputs.items():
            name = f'{x.shape[0]}x3x{x.shape[2]}x{x.shape[3]}'
            got = guarded(f'ONNX Runtime cannot run the file at {name} (it takes '
                          f'{session.input_layout})', 'Check that size with --static.',
                          lambda x=x: session(x))
            checks.append(f'{name}: ' + (compare_detections(got, expected[size]) if detections
                                         else compare_outputs(got, expected[size], args.tolerance)))
        os.replace(staging, out)
    finally:
        staging.unlink(missing_ok=True)

    print(f'ONNX file: {out} ({out.stat().st_size / 2**20:.1f} MiB)')
    print(f'  exported: --part {args.part} of {type(model).__name__}, weights: {weights}')
    print(f"  input:    {session.input_layout}, normalised as the data preprocessor does: "
          f"mean {prep['mean']}, std {prep['std']}, "
          f"channels {prep['channels']}")
    print(f"  outputs:  {', '.join(session.output_names)}")
    for line in checks:
        print(f'  check:    ONNX Runtime vs eager at {line}')
    if args.int8:
        int8_out, summary = export_int8(args, cfg, spec, model, module, out, (height, width))
        print(f'int8 file: {int8_out} ({int8_out.stat().st_size / 2**20:.1f} MiB), '
              f'calibrated on {summary}')
    print(f"Run it with: onnxruntime.InferenceSession('{out}').run(None, {{'image': images}})")


def check_int8_args(args: argparse.Namespace, cfg: Config, detections: bool) -> None:
    """``--int8`` refusals, before anything is exported."""
    if detections:
        raise ToolError('--int8 of the whole detector (NMS in the graph) is not supported yet: '
                        'quantize --part features')
    if args.calib_images < 1:
        raise ToolError(f'--calib-images must be >= 1, got {args.calib_images}')
    check_data_roots(cfg, ['train_dataloader'])


def export_int8(args: argparse.Namespace, cfg: Config, spec: TaskSpec, model: nn.Module,
                module: nn.Module, out: Path, shape: tuple[int, int]) -> tuple[Path, str]:
    """``--int8``: quantize the checked float32 file ``out`` on training images (resized to
    ``shape`` for a static graph), check it against the eager model on up to 8 of them, and
    write ``<out>_int8.onnx`` atomically. Returns its path and a summary."""
    spec.register_modules()
    with DefaultScope.overwrite_default_scope(spec.scope):
        images = guarded('cannot read the calibration images', 'Check train_dataloader in the '
                         'config.', lambda: calibration_images(
                             cfg.get('train_dataloader'), model.data_preprocessor,
                             args.calib_images))
    if args.static:
        images = [F.interpolate(x, size=shape, mode='bilinear', align_corners=False)
                  if tuple(x.shape[2:]) != shape else x for x in images]
    int8_out = out.with_name(f'{out.stem}_int8.onnx')
    staging = int8_out.with_name(f'.{int8_out.stem}.unchecked-{os.getpid()}.onnx')
    # Checked on up to 8 calibration images of one size as one batch: the difference and the
    # largest output over all of them (the graph may be static, so ONNX Runtime runs each).
    checked = [x for x in images if x.shape == images[0].shape][:8]
    try:
        quantize_onnx_int8(out, staging, images)
        session = OnnxModel(staging)
        got = [np.concatenate(parts) for parts in zip(*(session(x) for x in checked))]
        with torch.no_grad():
            expected = module(torch.cat(checked))
        try:
            check = compare_outputs(got, expected, args.int8_tolerance, min_same=0.95)
        except ToolError as error:
            raise ToolError(f'int8: {error} (--int8-tolerance {args.int8_tolerance}); the '
                            'float32 file is written and checked') from None
        os.replace(staging, int8_out)
    finally:
        staging.unlink(missing_ok=True)
    return int8_out, (f'{len(images)} training images; vs eager float32 on {len(checked)} of '
                      f'them: {check}')


def export_onnx_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of tools/deployment/export_onnx.py; returns the exit code."""
    return run_command(run_export_onnx, build_export_onnx_parser(), argv)
