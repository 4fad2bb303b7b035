#!/usr/bin/env bash
# Training as a preemptible Slurm batch job: it resumes from the latest checkpoint in
# WORK_DIR every time it starts. Slurm requeues it when it is preempted (or on `scontrol
# requeue`): training gets SIGTERM, saves a checkpoint and stops. Shortly before the time
# limit Slurm sends SIGUSR1 (--signal below): training saves and stops, and this script
# requeues the job. See docs/distributed.md.
#   sbatch [-p PARTITION] [--ntasks=N] [--ntasks-per-node=N] [--cpus-per-task=C]
#          [--gres=gpu:N] [--time=D-HH:MM:SS] tools/slurm_sbatch.sh CONFIG WORK_DIR \
#          [tools/train.py arguments...]
# Slurm runs a copy of this file: call sbatch from the repository root, or set EMO_MM_ROOT.
# Environment: PYTHON=python picks the interpreter; SRUN_ARGS="" adds srun options.
#SBATCH --job-name=emo_mm
#SBATCH --requeue
#SBATCH --signal=USR1@180
#SBATCH --open-mode=append
#SBATCH --output=slurm-%x-%j.out

if [ $# -lt 2 ]; then
    echo "usage: sbatch [options] $0 CONFIG WORK_DIR [train.py arguments...]" >&2
    exit 1
fi
ROOT=${EMO_MM_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
if [ ! -f "$ROOT/tools/train.py" ]; then
    echo "$0: no tools/train.py under $ROOT: run sbatch from the emo_mm checkout or set" \
         "EMO_MM_ROOT" >&2
    exit 1
fi
echo "[slurm_sbatch] job ${SLURM_JOB_ID} start $((${SLURM_RESTART_COUNT:-0} + 1)) on" \
     "${SLURM_JOB_NODELIST}, $(date '+%F %T')"

# Rank 0 writes STOP_FILE once a signal stop has saved its checkpoint, before any rank exits.
STOP_FILE="$2/slurm_stopped_on_signal"
rm -f "$STOP_FILE"
# SRUN_ARGS is left unquoted on purpose: it holds none, one or several srun options.
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" EMO_MM_STOP_FILE="$STOP_FILE" \
srun --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$ROOT/tools/train.py" "$1" --work-dir="$2" --launcher=slurm \
    --resume "${@:3}"
rc=$?
# tools/train.py exits with 3 when a signal made it save a checkpoint and stop. srun may
# report another code: the first rank to exit with 3 makes it kill the rest
# (--kill-on-bad-exit), hence STOP_FILE. On SIGUSR1 (time limit) nobody else requeues the
# job; on preemption Slurm does and this shell is already gone.
if [ "$rc" -eq 3 ] || [ -f "$STOP_FILE" ]; then
    echo "[slurm_sbatch] checkpoint saved before the time limit: requeueing job ${SLURM_JOB_ID}"
    rm -f "$STOP_FILE"
    scontrol requeue "${SLURM_JOB_ID}"
fi
exit "$rc"
