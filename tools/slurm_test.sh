#!/usr/bin/env bash
# Testing on a Slurm cluster (srun starts one task per GPU), any task:
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments...]
# Environment (mmdet's names): GPUS=8, GPUS_PER_NODE=8, CPUS_PER_TASK=5, SRUN_ARGS="" (extra
# srun options, split on spaces); PYTHON=python picks the interpreter.

if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py arguments...]" >&2
    exit 1
fi

set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
TOOLS_DIR="$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"

# SRUN_ARGS is left unquoted on purpose: it holds several srun options.
PYTHONPATH="$(dirname "$TOOLS_DIR")${PYTHONPATH:+:$PYTHONPATH}" \
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    "${PYTHON:-python}" -u "$TOOLS_DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher=slurm "${@:5}"
