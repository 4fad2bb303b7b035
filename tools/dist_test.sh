#!/usr/bin/env bash
# Distributed testing with torchrun (one process per GPU), any task:
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py arguments...]
# Environment (mmdet's names): NNODES=1, NODE_RANK=0, PORT=29500, MASTER_ADDR=127.0.0.1;
# PYTHON=python picks the interpreter (e.g. PYTHON=.venv/bin/python).

if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py arguments...]" >&2
    exit 1
fi

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TOOLS_DIR="$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"

# tools/torchrun.py is torchrun (run by the chosen interpreter) that ends a failed job
# with one line and the failing rank's exit code.
PYTHONPATH="$(dirname "$TOOLS_DIR")${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" "$TOOLS_DIR/torchrun.py" \
    --nnodes="$NNODES" \
    --node-rank="$NODE_RANK" \
    --master-addr="$MASTER_ADDR" \
    --nproc-per-node="$GPUS" \
    --master-port="$PORT" \
    "$TOOLS_DIR/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
