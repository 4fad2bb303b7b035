"""``tools/analysis/compare_backbones.py``: backbones compared on one recipe.

``train`` trains configs one after the other with ``tools/train.py`` (a progress line per run,
each run's output in ``<work_dir>/train_output.txt``); ``table`` reads their finished work dirs
and prints one markdown table (parameters, FLOPs, CPU latency at batch 1, training time, final
validation metric) and draws the metric against latency (:mod:`emo_mm.analysis.compare`).
A CONFIG may be a folder: every ``*.py`` in it, sorted by name.

    python tools/analysis/compare_backbones.py train configs/cls/demo/emov2_1m_shapes.py \\
        configs/cls/demo/compare
    python tools/analysis/compare_backbones.py table configs/cls/demo/emov2_1m_shapes.py \\
        configs/cls/demo/compare --out cls.md --png cls.png
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List, Optional, Sequence

import torch
from mmengine.config import DictAction

from emo_mm.analysis.compare import (TASK_METRICS, ComparisonRow, comparison_figure,
                                     inference_latency, markdown_table, run_wall_seconds)
from emo_mm.analysis.complexity import model_complexity
from emo_mm.analysis.curves import VAL_TIMING_KEYS
from emo_mm.analysis.results import (RunLogError, RunMetrics, read_run_metrics,
                                     training_length, unfinished_reason)

from .common import CFG_OPTIONS_HELP, ToolError, load_config, run_command
from .get_flops import flops_input_shape

TRAIN_SCRIPT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                        'tools', 'train.py')
OUTPUT_FILE = 'train_output.txt'


def expand_configs(paths: Sequence[str]) -> List[str]:
    """Config files, a folder standing for its sorted ``*.py``; one error for a missing one."""
    configs: List[str] = []
    for path in paths:
        if osp.isdir(path):
            found = sorted(glob.glob(osp.join(path, '*.py')))
            if not found:
                raise ToolError(f'no config (*.py) in folder {path}')
            configs += found
        elif osp.isfile(path):
            configs.append(path)
        else:
            raise ToolError(f'config not found: {path}')
    stems = [osp.splitext(osp.basename(c))[0] for c in configs]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise ToolError(f'two configs share the name {duplicates[0]}: their work dirs '
                        f'(<work-root>/<config name>) would collide; compare them in two calls')
    return configs


def work_dir_of(config: str, work_root: str) -> str:
    return osp.join(work_root, osp.splitext(osp.basename(config))[0])


def _parse_options(options: Optional[Sequence[str]]) -> Optional[dict]:
    if not options:
        return None
    parser = argparse.ArgumentParser(prog='--cfg-options')
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *options]).o


def finished_run(config: str, work_dir: str, cfg_options: Optional[dict]) -> RunMetrics:
    """The metrics of the newest validated run in ``work_dir``; :class:`RunLogError` when there
    is none or when it stopped before the config's last epoch / iteration (a crashed or
    interrupted run must not stand in the table as a finished one)."""
    metrics = read_run_metrics(work_dir)
    train_cfg = load_config(config, cfg_options, 'none', None)[0].get('train_cfg')
    reason = unfinished_reason(metrics, training_length(train_cfg))
    if reason:
        raise RunLogError(reason)
    return metrics


def _finished(config: str, work_dir: str, cfg_options: Optional[dict]) -> bool:
    try:
        finished_run(config, work_dir, cfg_options)
        return True
    except RunLogError:
        return False


def train_all(args: argparse.Namespace) -> None:
    """Train each config in turn; the failed ones are listed at the end (exit code 2)."""
    configs = expand_configs(args.configs)
    options = _parse_options(args.cfg_options)
    failed = []
    for index, config in enumerate(configs, 1):
        work_dir = work_dir_of(config, args.work_root)
        prefix = f'[{index}/{len(configs)}] {osp.basename(config)}'
        if args.skip_finished and _finished(config, work_dir, options):
            print(f'{prefix}: already finished in {work_dir}, skipped', flush=True)
            continue
        os.makedirs(work_dir, exist_ok=True)
        command = [sys.executable, TRAIN_SCRIPT, config, '--work-dir', work_dir, *args.train_args]
        if args.cfg_options:
            command += ['--cfg-options', *args.cfg_options]
        print(f'{prefix}: training in {work_dir} ...', flush=True)
        start = time.perf_counter()
        output = osp.join(work_dir, OUTPUT_FILE)
        with open(output, 'w', encoding='utf-8') as out:
            code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT)
        took = time.perf_counter() - start
        if code != 0:
            failed.append(config)
            print(f'{prefix}: FAILED (exit code {code}) after {took:.0f} s; see {output}',
                  flush=True)
            continue
        try:
            metrics = finished_run(config, work_dir, options)
            summary = ', '.join(f'{key} {values[-1]:.4g}'
                                for key, values in metrics.values.items()
                                if key not in VAL_TIMING_KEYS)
        except RunLogError as err:
            failed.append(config)
            print(f'{prefix}: FAILED: {err}', flush=True)
            continue
        print(f'{prefix}: done in {took:.0f} s: {summary}', flush=True)
    if failed:
        raise ToolError(f'{len(failed)} of {len(configs)} runs failed: {", ".join(failed)}')


def comparison_rows(configs: Sequence[str], work_root: str, metric: Optional[str],
                    cfg_options: Optional[dict], runs: int, warmup: int) -> List[ComparisonRow]:
    """A row per config, from its finished work dir and its model built anew (CPU)."""
    found, models, missing = {}, {}, []
    for config in configs:
        name = osp.splitext(osp.basename(config))[0]
        work_dir = work_dir_of(config, work_root)
        try:
            result = finished_run(config, work_dir, cfg_options)
            train_s = run_wall_seconds(result.run_dir)
        except RunLogError as err:
            missing.append(f'{name} ({err})')
            continue
        cfg, spec = load_config(config, cfg_options, 'none', None)
        key = metric or TASK_METRICS.get(spec.scope)
        if key not in result.values:
            raise ToolError(f'{result.source} has no metric {key!r} (it has: '
                            f'{", ".join(sorted(result.values))}); choose one with --metric')
        model = spec.build_model(cfg).eval()
        shape = flops_input_shape(cfg)
        params, flops = model_complexity(model, shape)
        models[name] = (model, shape)
        found[name] = dict(config=config, input_shape=shape, params=params, flops=flops,
                           train_s=train_s, metric=key, value=result.final(key),
                           run_dir=result.run_dir)
        print(f'read {name}: {key} {result.final(key):.4g}', flush=True)
    if missing:
        raise ToolError(f'no finished run for {len(missing)} config(s) under {work_root}: '
                        f'{"; ".join(missing)}. Train them first: compare_backbones.py train '
                        f'CONFIG... --work-root {work_root}')
    latency = inference_latency(models, runs=runs, warmup=warmup)
    return [ComparisonRow(name=name, latency_ms=latency[name], **fields)
            for name, fields in found.items()]


def table(args: argparse.Namespace) -> None:
    if args.runs < 1 or args.warmup < 0 or args.threads < 0:
        raise ToolError(f'--runs must be >= 1, --warmup and --threads >= 0 (got --runs '
                        f'{args.runs}, --warmup {args.warmup}, --threads {args.threads})')
    configs = expand_configs(args.configs)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = comparison_rows(configs, args.work_root, args.metric,
                           _parse_options(args.cfg_options), args.runs, args.warmup)
    text = markdown_table(rows)
    print(text)
    setup = (f'CPU latency: batch 1, deploy form, tensor-mode forward, {torch.get_num_threads()} '
             f'threads, median of {args.runs} round-robin runs after {args.warmup} warm-ups; '
             'train time: wall time of the run (its log, first to last line).')
    print(setup)
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text + '\n\n' + setup + '\n')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(dict(setup=setup, threads=torch.get_num_threads(),
                           rows=[row.as_dict() for row in rows]), f, indent=1)
    if args.png:
        comparison_figure(rows, title=args.title).savefig(args.png, dpi=120)
        print(args.png)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='compare_backbones.py',
                                     description=__doc__.split('\n\n')[1].replace('\n', ' '))
    sub = parser.add_subparsers(dest='command', required=True)
    for name, helptext in (('train', 'train the configs one after the other'),
                           ('table', 'the table and plot of finished runs')):
        p = sub.add_parser(name, help=helptext)
        p.add_argument('configs', nargs='+', metavar='CONFIG', help='config files or folders')
        p.add_argument('--work-root', default=osp.join('work_dirs', 'compare'),
                       help='each config runs in <work-root>/<config name> '
                            '(default: %(default)s)')
        p.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help=CFG_OPTIONS_HELP)
    train = sub.choices['train']
    train.add_argument('--skip-finished', action='store_true',
                       help='skip configs whose work dir already holds a run validated at its last '
                            'epoch / iteration')
    train.add_argument('--train-args', nargs=argparse.REMAINDER, default=[],
                       help='passed on to tools/train.py (e.g. --amp); must come last')
    tab = sub.choices['table']
    tab.add_argument('--metric', help='validation metric (default: coco/bbox_mAP, mIoU or '
                     'accuracy/top1 by task)')
    tab.add_argument('--threads', type=int, default=2, help='torch CPU threads for the latency '
                     '(default: %(default)s; 0: torch\'s default)')
    tab.add_argument('--runs', type=int, default=10, help='timed runs per model')
    tab.add_argument('--warmup', type=int, default=3, help='untimed runs per model first')
    tab.add_argument('--out', help='also write the table to this markdown file')
    tab.add_argument('--json', help='also write the rows to this JSON file')
    tab.add_argument('--png', help='draw metric vs latency into this image')
    tab.add_argument('--title', help='title of the plot')
    return parser


def compare_backbones_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tools/analysis/compare_backbones.py``."""
    def command(args: argparse.Namespace) -> None:
        (train_all if args.command == 'train' else table)(args)
    return run_command(command, build_parser(), argv)
