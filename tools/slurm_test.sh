#!/usr/bin/env bash
# Testing on a Slurm cluster, any task: srun starts one task per GPU, or, on a partition
# without GPUs, one CPU process per task (gloo); see docs/distributed.md.
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments...]
# Environment (mmdet's names): GPUS=8 tasks in all, GPUS_PER_NODE=8 tasks per node,
# CPUS_PER_TASK=5, SRUN_ARGS="" (extra srun options, split on spaces); GRES (default: GPUs
# when the partition has them, see slurm_common.sh); PYTHON=python picks the interpreter.

if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments...]" >&2
    exit 1
fi
source "$(dirname -- "${BASH_SOURCE[0]}")/slurm_common.sh"
slurm_launch test.py "$1" "$2" "$3" "$4" --launcher=slurm "${@:5}"
