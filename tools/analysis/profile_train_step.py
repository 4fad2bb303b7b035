#!/usr/bin/env python
"""Where a config's training step spends its time: real batches of its train loader,
``model.train_step`` under torch.profiler, the ops' time by kind (GEMMs, dense and depthwise
convolutions, norms, activations, copies, optimizer, rest) and the speed-up a faster matrix
unit could give at most.

Usage: python tools/analysis/profile_train_step.py CONFIG [--steps 10] [--warmup 3] [--amp]
           [--threads N] [--trace trace.json] [--cfg-options KEY=VALUE ...]
The logic lives in emo_mm.cli.profile_train_step.
"""
import os.path as osp
import sys

# Run this checkout's emo_mm even when another copy is installed.
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

from emo_mm.cli.profile_train_step import profile_train_step_main  # noqa: E402

if __name__ == '__main__':
    sys.exit(profile_train_step_main())
