#!/usr/bin/env python
"""torchrun (``python -m torch.distributed.run``) that ends a failed job with one line and
the failing rank's exit code, for tools/dist_train.sh and tools/dist_test.sh.

torchrun itself answers any failed worker with a traceback of its own and exit code 1,
after the worker has printed what went wrong (``tools/train.py: error: ...``). Here the
worker's exit code comes back instead (2: bad input, 1: training diverged, 3: stopped by a
signal after a checkpoint; see emo_mm.cli.common.EXIT_CODES), so scripts can act on it.

Usage: python tools/torchrun.py [torchrun options] SCRIPT [script arguments...]
"""
import signal
import sys

from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import parse_args, run


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except ChildFailedError as err:
        rank, failure = err.get_first_failure()
        if failure.exitcode < 0:
            how = f'was killed by {signal.Signals(-failure.exitcode).name}'
        else:
            how = f'exited with code {failure.exitcode}'
        print(f'torchrun: {args.training_script} failed: rank {rank} {how} (its error is '
              f'printed above; {len(err.failures)} of the ranks failed)', file=sys.stderr)
        return failure.exitcode if failure.exitcode > 0 else 1
    except SignalException as err:  # torchrun passed the signal on to the workers
        print(f'torchrun: received {signal.Signals(err.sigval).name}; the workers were told '
              'to stop (tools/train.py saves a checkpoint first: continue with --resume)',
              file=sys.stderr)
        return 128 + err.sigval
    return 0


if __name__ == '__main__':
    sys.exit(main())
