"""glibc's malloc as it comes against emo_mm's tuning (``emo_mm.engine.tune_cpu_allocator``:
freed memory kept for reuse), on the training step of a config: the allocator is set once per
process, so each round runs one child process per setup, in alternating order, on real batches
of the config's train loader. Prints per setup the median step time over the rounds, page
faults and kernel time per step, and the ratio.

Usage: python benchmarks/cpu_allocator.py [CONFIG] [--amp] [--steps 20] [--rounds 4]
           [--threads 2]
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from benchmarks.side_by_side import load_runner, median_ms, parser  # noqa: E402
from emo_mm.engine.cpu_allocator import ENV_SWITCH, tune_cpu_allocator  # noqa: E402

SETUPS = {'glibc default': 'default', 'kept freed memory': 'keep'}


def child(args) -> None:
    """One process: ``args.steps`` timed train steps after the warm-up, as JSON on stdout."""
    state = tune_cpu_allocator()
    runner, cfg, batches = load_runner(args)
    model = runner.model.train()
    wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    warmup = len(batches) - args.steps
    times = []
    for i, batch in enumerate(batches):
        if i == warmup:
            before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        model.train_step(batch, wrapper)
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps(dict(state=state, ms=median_ms(times, args.steps),
                          faults=(after.ru_minflt - before.ru_minflt) / args.steps,
                          sys_ms=1000 * (after.ru_stime - before.ru_stime) / args.steps)))


def main() -> None:
    cli = parser(__doc__)
    cli.set_defaults(steps=20)
    cli.add_argument('--rounds', type=int, default=4)
    cli.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.child:
        return child(args)
    command = [sys.executable, osp.abspath(__file__), args.config, '--child',
               '--steps', str(args.steps), '--threads', str(args.threads)] + \
        (['--amp'] if args.amp else [])
    results = {name: [] for name in SETUPS}
    for round_ in range(args.rounds):
        for name in sorted(SETUPS, reverse=bool(round_ % 2)):
            env = dict(os.environ)
            env.pop(ENV_SWITCH, None)
            if SETUPS[name] == 'default':
                env[ENV_SWITCH] = 'default'
            out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f'{args.config}, {args.threads} threads, amp={args.amp}: {args.rounds} rounds of '
          f'{args.steps} steps per setup, alternating processes')
    medians = {}
    for name, runs in results.items():
        medians[name] = statistics.median(r['ms'] for r in runs)
        print(f'  {name:18s} train step {medians[name]:7.1f} ms (rounds: '
              f'{", ".join("%.0f" % r["ms"] for r in runs)}), '
              f'{statistics.median(r["faults"] for r in runs):8.0f} page faults and '
              f'{statistics.median(r["sys_ms"] for r in runs):5.1f} ms kernel time per step '
              f'[{runs[0]["state"]}]')
    print(f'  train step: kept freed memory '
          f'{medians["glibc default"] / medians["kept freed memory"]:.3f}x glibc default')


if __name__ == '__main__':
    main()
