#!/usr/bin/env python
"""Time EMOv2 against the plain (official) formulation, side by side in one run.

Modes: ``infer`` (eager), ``deploy`` (BN/LayerScale folded, eager), ``compile`` (deploy form
under ``torch.compile(fullgraph=True)``, frozen weights), ``aoti`` (deploy form exported and
compiled ahead of time by AOTInductor, CPU only), ``ort`` (deploy form exported to ONNX at the
input's shape, run by ONNX Runtime's CPU provider), for the backbone and the mmpretrain
classifier, in the ``--precisions`` each supports: ``fp32``; ``bf16`` (deploy, compile, aoti:
bfloat16 weights and activations); ``int8`` (compile and aoti: PT2E static quantization with
torch's x86 Inductor quantizer; ort: ONNX Runtime static QDQ quantization), calibrated on
random batches, which decide the ranges but not the speed;
``train`` (classifier training step: forward, backward, AdamW), ``train_cp`` (the same with
activation checkpointing), ``det_train`` (RetinaNet demo detector training step); each training
row also gives the FLOP/s it achieves (the step's matmul and convolution FLOPs, forward and
backward, counted on the plain formulation's step) beside the rate of a 2048^3 matmul in the
same precision, timed in the same run. Variants are timed round-robin (run i of every variant, then run i + 1) so that load changes hit
them alike; medians are reported. Peak training memory: a fresh subprocess per variant
(CPU: peak RSS growth over the step; CUDA: ``max_memory_allocated`` growth).

    python tools/analysis/benchmark.py --arch 1m 5m --sizes 224 512 --window 7 10 \\
        --threads 2 --modes infer deploy compile aoti ort --precisions fp32 bf16 int8 \\
        --json work_dirs/bench_infer.json
"""
import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from benchmarks import workloads  # noqa: E402
from emo_mm.analysis import matmul_rate, step_flops, time_round_robin  # noqa: E402
from emo_mm.deploy import (PRECISIONS, Bf16Model, OnnxModel, PartOf, compile_for_inference,  # noqa: E402
                            export_aot, export_onnx, matrix_units, quantize_int8,
                            quantize_onnx_int8, reparameterize)
from emo_mm.engine import tune_cpu_allocator  # noqa: E402

MODES = ('infer', 'compile', 'aoti', 'ort', 'deploy', 'train', 'train_cp', 'det_train')
TRAIN_PRECISIONS = ('fp32', 'bf16')
#: Our training step with the depthwise convolutions left to PyTorch's kernels: oneDNN's weight
#: gradient, and bfloat16 under autocast (the form before ConvNormAct used emo_mm's kernel and
#: kept them in float32 there): CPU training rows, every precision.
TORCH_DEPTHWISE = 'ours torch depthwise'
INFER_MODES = ('infer', 'deploy', 'compile', 'aoti', 'ort')
INFER_VARIANT = {'infer': 'ours', 'deploy': 'ours deploy', 'compile': 'ours deploy+compile',
                 'aoti': 'ours deploy+aoti', 'ort': 'ours deploy+ort'}
#: Precisions each inference mode runs (int8 in eager only simulates int8 in float32; ONNX
#: Runtime's CPU provider has no bfloat16 convolutions).
MODE_PRECISIONS = {'infer': ('fp32', ), 'deploy': ('fp32', 'bf16'), 'compile': PRECISIONS,
                   'aoti': PRECISIONS, 'ort': ('fp32', 'int8')}


@dataclass
class Row:
    task: str          # backbone / classifier inference, classifier / detector train step
    arch: str
    size: int
    window: int
    batch: int
    variant: str
    median_ms: float
    images_per_s: float
    vs_plain: float    # plain median / this median (> 1: faster than plain)
    peak_mb: Optional[float] = None
    precision: str = 'fp32'
    vs_deploy: float = float('nan')   # float32 deploy form (eager) median / this median
    gflop_per_s: float = float('nan')  # training rows: the step's FLOPs / median time
    compute_dtype: str = 'float32'     # what the GEMMs run in (bf16 / fp16 under autocast)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--arch', nargs='+', default=['1m', '5m'])
    parser.add_argument('--sizes', type=int, nargs='+', default=[224])
    parser.add_argument('--window', type=int, nargs='+', default=[7],
                        help='one window for every size, or one per size')
    parser.add_argument('--batch', type=int, default=1, help='inference batch')
    parser.add_argument('--train-batch', type=int, default=16)
    parser.add_argument('--det-batch', type=int, default=8)
    parser.add_argument('--det-size', type=int, default=192)
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--amp', action='store_true', help='autocast (fp16 on CUDA, bf16 on CPU)')
    parser.add_argument('--runs', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--train-runs', type=int, default=None, help='default: --runs')
    parser.add_argument('--modes', nargs='+', default=['infer', 'deploy'], choices=MODES)
    parser.add_argument('--precisions', nargs='+', default=['fp32'], choices=PRECISIONS,
                        help='inference precisions of the deploy form (CPU): bf16 weights and '
                             'activations, int8 by post-training static quantization')
    parser.add_argument('--train-precisions', nargs='+', default=['fp32'],
                        choices=TRAIN_PRECISIONS,
                        help='training steps in float32 and / or bf16 autocast (CPU, as '
                             'tools/train.py --amp), side by side; on a CPU each adds the variant '
                             '"ours torch depthwise" (depthwise convolutions left to PyTorch: '
                             'oneDNN\'s weight gradient, bfloat16 under autocast)')
    parser.add_argument('--calib-batches', type=int, default=8,
                        help='random batches that calibrate int8 (timing only: the values do '
                             'not change the speed)')
    parser.add_argument('--models', nargs='+', default=['backbone', 'classifier'],
                        choices=['backbone', 'classifier'], help='inference targets')
    parser.add_argument('--json', type=Path, default=None, help='write the rows and setup here')
    parser.add_argument('--probe', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if len(args.window) not in (1, len(args.sizes)):
        parser.error('--window takes one value or one per --sizes entry')
    for mode in ('aoti', 'ort'):
        if mode in args.modes and args.device != 'cpu':
            parser.error(f'--modes {mode} runs on the CPU; use --device cpu')
    if 'bf16' in args.train_precisions and args.device != 'cpu':
        parser.error('--train-precisions bf16 is CPU autocast; on a GPU use --amp (fp16)')
    if set(args.precisions) - {'fp32'} and args.device != 'cpu':
        parser.error('--precisions bf16 / int8 are the CPU inference paths; use --device cpu')
    return args


# ----------------------------------------------------------------------------- inference
def low_precision(model: torch.nn.Module, precision: str, example: torch.Tensor,
                  calib_batches: int) -> torch.nn.Module:
    """The folded ``model`` in ``precision``: itself, :class:`Bf16Model`, or PT2E int8."""
    if precision == 'bf16':
        return Bf16Model(model)
    if precision == 'int8':
        calibration = [torch.randn_like(example) for _ in range(calib_batches)]
        return quantize_int8(model, example, calibration)
    return model


def inference_models(task: str, arch: str, window: int, modes: List[str], precisions: List[str],
                     example: torch.Tensor, work_dir: Path, calib_batches: int = 8
                     ) -> Dict[Tuple[str, str], Callable]:
    """``{(variant, precision): callable}``, each called as ``model(x)`` in eval mode: plain
    plus one entry per inference mode and precision it supports."""
    build = (workloads.build_classifier if task == 'classifier' else
             lambda v, a, w: workloads.build_backbone(v, a, w))
    wrap = (lambda m: PartOf(m, 'model')) if task == 'classifier' else (lambda m: m)
    device = str(example.device)
    models = {('plain', 'fp32'): wrap(build('plain', arch, window)).to(device).eval()}
    for mode in modes:
        for precision in MODE_PRECISIONS[mode]:
            if precision not in precisions:
                continue
            model = wrap(build('ours', arch, window)).to(device).eval()
            if mode != 'infer':
                reparameterize(model)
            if mode in ('deploy', 'compile', 'aoti'):
                model = low_precision(model, precision, example, calib_batches)
            name = f'{task}_{arch}_{"x".join(map(str, example.shape))}_w{window}_{precision}'
            if mode == 'aoti':
                model = export_aot(model, example, work_dir / f'{name}.pt2', fold=False)
            elif mode == 'compile':
                model = compile_for_inference(model)
            elif mode == 'ort':
                onnx_path = export_onnx(model, example, work_dir / f'{name}_fp32.onnx',
                                        dynamic=False, fold=False)
                if precision == 'int8':
                    calibration = [torch.randn_like(example) for _ in range(calib_batches)]
                    onnx_path = quantize_onnx_int8(onnx_path, work_dir / f'{name}.onnx', calibration)
                session = OnnxModel(onnx_path, threads=torch.get_num_threads())
                model = (lambda s=session: lambda x: s(x))()
            models[(INFER_VARIANT[mode], precision)] = model
    return models


def run_inference(args, arch: str, size: int, window: int) -> List[Row]:
    modes = [m for m in INFER_MODES if m in args.modes]
    rows = []
    for task in args.models:
        x = torch.randn(args.batch, 3, size, size, device=args.device)
        with tempfile.TemporaryDirectory(prefix='emo_mm_bench_') as work_dir:
            models = inference_models(task, arch, window, modes, args.precisions, x,
                                      Path(work_dir), args.calib_batches)
        fns = {key: (lambda m=m: m(x)) for key, m in models.items()}
        with torch.no_grad(), workloads._autocast(args.device, args.amp):
            medians = time_round_robin(fns, args.runs, args.warmup, args.device)
        rows += make_rows(f'{task} infer', arch, size, window, args.batch, medians)
        del models, fns
        gc.collect()
    return rows


# ----------------------------------------------------------------------------- training
def train_step_for(spec: dict) -> Callable[[], None]:
    """Build the training workload described by ``spec`` (also used by the memory probe)."""
    variant = 'ours' if spec['variant'].startswith('ours') else 'plain'
    if spec['task'] == 'detector train':
        model = workloads.build_detector(variant)
    else:
        model = workloads.build_classifier(variant, spec['arch'], spec['window'],
                                           with_cp=spec['variant'] == 'ours with_cp')
    if spec['variant'] == TORCH_DEPTHWISE:
        workloads.torch_depthwise(model)
    step = (workloads.detector_train_step if spec['task'] == 'detector train'
            else workloads.classifier_train_step)
    return step(model, spec['batch'], spec['size'], spec['device'], spec['amp'])


def current_rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2 ** 20


def probe_memory(spec: dict) -> float:
    """Peak memory (MB) of a training step above what lives between steps (weights, optimizer
    state), in this fresh process. On CPU: the RSS sampled during a step after a warm-up step,
    minus the RSS before it; large blocks are mmap-ed (see :func:`memory_in_subprocess`), so
    freed memory leaves the RSS."""
    torch.set_num_threads(spec['threads'])
    step = train_step_for(spec)
    step()      # optimizer state, lazy library initialisation
    gc.collect()
    if spec['device'].startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2 ** 20
    base = current_rss_mb()
    with RssSampler() as sampler:
        step()
    return sampler.peak_mb - base


class RssSampler(threading.Thread):
    """Samples this process's RSS every ``interval`` seconds while in the ``with`` block
    (torch ops release the GIL, so samples land inside them)."""

    def __init__(self, interval: float = 2e-4) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_mb = current_rss_mb()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_mb = max(self.peak_mb, current_rss_mb())
            time.sleep(self.interval)

    def __enter__(self) -> 'RssSampler':
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop_event.set()
        self.join()
        self.peak_mb = max(self.peak_mb, current_rss_mb())


def memory_in_subprocess(spec: dict) -> float:
    cmd = [sys.executable, str(Path(__file__).resolve()), '--probe', json.dumps(spec)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])['peak_mb']


def run_training(args, task: str, arch: str, size: int, window: int, batch: int,
                 variants: List[str]) -> List[Row]:
    keys = [(v, p) for p in args.train_precisions for v in variants]
    if args.device == 'cpu':
        keys += [(TORCH_DEPTHWISE, p) for p in args.train_precisions]
    specs = {(v, p): dict(task=task, variant=v, arch=arch, size=size, window=window,
                          batch=batch, device=args.device, amp=args.amp or p == 'bf16',
                          threads=torch.get_num_threads())
             for v, p in keys}
    steps = {v: train_step_for(spec) for v, spec in specs.items()}
    counted = ('plain', keys[0][1]) if ('plain', keys[0][1]) in steps else keys[0]
    flops = step_flops(steps[counted])   # the model's FLOPs; also a warm-up step
    runs = args.train_runs or args.runs
    medians = time_round_robin(steps, runs, min(args.warmup, 3), args.device)
    del steps
    gc.collect()
    peaks = {v: memory_in_subprocess(spec) for v, spec in specs.items()}
    rows = make_rows(task, arch, size, window, batch, medians, peaks)
    for row in rows:
        row.gflop_per_s = flops / 1e9 / (row.median_ms / 1e3)
        row.compute_dtype = compute_dtype(args, row.precision)
    return rows


def compute_dtype(args, precision: str) -> str:
    """The dtype a training row's GEMMs run in: bf16 autocast on a CPU, fp16 autocast
    (``--amp``) on a GPU, float32 otherwise."""
    if precision == 'bf16' or (args.amp and args.device == 'cpu'):
        return 'bfloat16'
    return 'float16' if args.amp else 'float32'


def matmul_rates(args) -> Dict[str, float]:
    """GFLOP/s of a 2048^3 matmul in each dtype the training rows compute in."""
    dtypes = sorted({compute_dtype(args, p) for p in args.train_precisions})
    return {name: matmul_rate(getattr(torch, name), device=args.device) / 1e9 for name in dtypes}


# ----------------------------------------------------------------------------- report
def make_rows(task, arch, size, window, batch, medians, peaks=None) -> List[Row]:
    """Rows from ``{variant or (variant, precision): seconds}``; ratios against the plain model
    and against our float32 deploy form (eager) of the same task."""
    def key(name):
        return name if isinstance(name, tuple) else (name, 'fp32')
    seconds = {key(name): sec for name, sec in medians.items()}
    plain = seconds.get(('plain', 'fp32'))
    deploy = seconds.get(('ours deploy', 'fp32'))
    return [Row(task, arch, size, window, batch, key(name)[0], sec * 1000, batch / sec,
                plain / sec if plain else float('nan'), (peaks or {}).get(name), key(name)[1],
                deploy / sec if deploy else float('nan'))
            for name, sec in medians.items()]


def print_table(rows: List[Row]) -> None:
    head = (f"{'task':<20} {'arch':<9} {'size':>5} {'win':>4} {'bs':>3} {'variant':<20} "
            f"{'prec':<5} {'median ms':>10} {'img/s':>8} {'vs plain':>8} {'vs deploy':>9} "
            f"{'peak MB':>8} {'GFLOP/s':>8}")
    print(head)
    print('-' * len(head))
    for r in rows:
        peak = f'{r.peak_mb:8.0f}' if r.peak_mb is not None else f"{'-':>8}"
        vs_deploy = f'{r.vs_deploy:8.2f}x' if r.vs_deploy == r.vs_deploy else f"{'-':>9}"
        rate = f'{r.gflop_per_s:8.1f}' if r.gflop_per_s == r.gflop_per_s else f"{'-':>8}"
        print(f'{r.task:<20} {r.arch:<9} {r.size:>5} {r.window:>4} {r.batch:>3} {r.variant:<20} '
              f'{r.precision:<5} {r.median_ms:10.1f} {r.images_per_s:8.1f} {r.vs_plain:7.2f}x '
              f'{vs_deploy} {peak} {rate}')


def summarize(rows: List[Row], gemm_gflop_per_s: Optional[Dict[str, float]] = None) -> List[str]:
    """Derived figures: with_cp memory/time vs ours, bf16 training vs float32, training FLOP/s
    vs the matmul rate of the same dtype, and time growth vs pixel count."""
    lines = []
    index = {(r.task, r.arch, r.size, r.window, r.variant, r.precision): r for r in rows}
    for r in rows:
        gemm = (gemm_gflop_per_s or {}).get(r.compute_dtype)
        if 'train' in r.task and gemm:
            lines.append(f'{r.task} {r.arch} {r.size} bs {r.batch} {r.variant} {r.precision}: '
                         f'{r.gflop_per_s:.1f} GFLOP/s, {r.gflop_per_s / gemm:.0%} of the '
                         f'{r.compute_dtype} 2048^3 matmul of this run ({gemm:.1f} GFLOP/s)')
        base = index.get((r.task, r.arch, r.size, r.window, 'ours', r.precision))
        if r.variant == 'ours with_cp' and base is not None and base.peak_mb:
            lines.append(f'with_cp {r.arch} {r.size}: peak memory {r.peak_mb / base.peak_mb - 1:+.0%}, '
                         f'time {r.median_ms / base.median_ms - 1:+.0%} vs ours')
        if r.variant == TORCH_DEPTHWISE and base is not None:
            lines.append(f'{r.task} {r.arch} {r.size} bs {r.batch} {r.precision}: ours '
                         f'{r.median_ms / base.median_ms:.2f}x the speed of {TORCH_DEPTHWISE} '
                         f'({r.median_ms:.1f} -> {base.median_ms:.1f} ms)')
        fp32 = index.get((r.task, r.arch, r.size, r.window, 'ours', 'fp32'))
        if 'train' in r.task and r.precision == 'bf16' and fp32 is not None:
            lines.append(f'{r.task} {r.arch} {r.size} bs {r.batch}: {r.variant} bf16 autocast '
                         f'{fp32.median_ms / r.median_ms:.2f}x the speed of ours float32 '
                         f'({fp32.median_ms:.1f} -> {r.median_ms:.1f} ms)')
    groups: Dict[tuple, List[Row]] = {}
    for r in rows:
        if 'infer' in r.task:
            groups.setdefault((r.task, r.arch, r.window, r.variant, r.precision), []).append(r)
    for (task, arch, window, variant, precision), group in groups.items():
        group.sort(key=lambda r: r.size)
        pairs = list(zip(group, group[1:])) + ([(group[0], group[-1])] if len(group) > 2 else [])
        for small, large in pairs:
            pixels = (large.size / small.size) ** 2
            growth = large.median_ms / small.median_ms
            lines.append(f'{task} {arch} w{window} {variant} {precision}: {small.size}->{large.size} time x{growth:.2f} '
                         f'for pixels x{pixels:.2f} ({growth / pixels:.2f} of the pixel ratio)')
    return lines


def setup_info(args) -> dict:
    cpu = platform.processor()
    try:
        out = subprocess.run(['lscpu'], capture_output=True, text=True).stdout
        cpu = next((line.split(':', 1)[1].strip() for line in out.splitlines()
                    if line.startswith('Model name')), cpu)
    except OSError:
        pass
    info = dict(torch=torch.__version__, device=args.device, cpu=cpu, cores=os.cpu_count(),
                threads=torch.get_num_threads(), amp=args.amp, runs=args.runs,
                warmup=args.warmup, load_average_start=os.getloadavg(),
                isa=dict(torch_cpu_capability=torch.backends.cpu.get_cpu_capability(),
                         **matrix_units()))
    if args.device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(args.device)
    return info


def main(argv=None) -> None:
    args = parse_args(argv)
    allocator = tune_cpu_allocator()      # as every emo_mm tool: freed memory kept for reuse
    if args.probe:
        print(json.dumps(dict(peak_mb=probe_memory(json.loads(args.probe)))))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    info = setup_info(args)
    info['cpu_allocator'] = allocator
    print(' | '.join(f'{k}: {v}' for k, v in info.items()), flush=True)
    windows = args.window * len(args.sizes) if len(args.window) == 1 else args.window
    if {'train', 'train_cp', 'det_train'} & set(args.modes):
        info['matmul_gflop_per_s'] = matmul_rates(args)
        print('2048^3 matmul: ' + ', '.join(f'{k} {v:.1f} GFLOP/s'
                                             for k, v in info['matmul_gflop_per_s'].items()),
              flush=True)
    rows: List[Row] = []
    for arch in args.arch:
        for size, window in zip(args.sizes, windows):
            if set(INFER_MODES) & set(args.modes):
                rows += run_inference(args, arch, size, window)
            train_variants = (['plain', 'ours'] if 'train' in args.modes else []) + \
                (['ours with_cp'] if 'train_cp' in args.modes else [])
            if train_variants:
                if 'ours' not in train_variants:
                    train_variants.insert(0, 'ours')
                rows += run_training(args, 'classifier train', arch, size, window,
                                     args.train_batch, train_variants)
    if 'det_train' in args.modes:
        rows += run_training(args, 'detector train', 'demo-1m', args.det_size, 8,
                             args.det_batch, ['plain', 'ours'])
    info['load_average_end'] = os.getloadavg()
    print()
    print_table(rows)
    summary = summarize(rows, info.get('matmul_gflop_per_s'))
    for line in summary:
        print(line)
    print(f"load average at start {info['load_average_start']}, at end {info['load_average_end']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(setup=info, rows=[asdict(r) for r in rows],
                                             summary=summary), indent=2))


if __name__ == '__main__':
    main()
