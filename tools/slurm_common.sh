# Helpers shared by the Slurm launchers (sourced by slurm_train.sh and slurm_test.sh).

# Print the --gres option that srun needs on PARTITION for GPUS_PER_NODE tasks per node,
# or nothing for a CPU partition (one gloo process per task). GRES overrides the guess:
# GRES=none never asks for GPUs, GRES=gpu:a100:4 asks for exactly that. The guess asks
# sinfo whether the partition's nodes have GPUs; when sinfo cannot tell, GPUs are asked
# for, as mmdet's scripts do.
slurm_gres_option() {
    local partition=$1 per_node=$2 gres
    case "${GRES:-auto}" in
        none) return 0 ;;
        auto) ;;
        *) echo "--gres=$GRES"; return 0 ;;
    esac
    if gres=$(timeout 30 sinfo -h -p "$partition" -o %G 2>/dev/null) && [ -n "$gres" ] \
            && ! grep -q 'gpu' <<< "$gres"; then
        echo "$(basename "$0"): partition '$partition' has no GPUs: starting CPU tasks" \
             "(set GRES=gpu:N to ask for GPUs anyway)" >&2
        return 0
    fi
    echo "--gres=gpu:$per_node"
}

# Replace the shell with `srun ... python -u tools/TOOL ARGS...` on PARTITION, with the
# sizes from the environment (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, GRES, PYTHON).
slurm_launch() {
    local tool=$1 partition=$2 job_name=$3
    shift 3
    local tools_dir root gres_option
    tools_dir="$(CDPATH= cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
    root="$(dirname "$tools_dir")"
    gres_option=$(slurm_gres_option "$partition" "${GPUS_PER_NODE:-8}")
    set -x
    # gres_option and SRUN_ARGS are left unquoted on purpose: none, one or several options.
    PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" \
    exec srun -p "$partition" \
        --job-name="$job_name" \
        ${gres_option} \
        --ntasks="${GPUS:-8}" \
        --ntasks-per-node="${GPUS_PER_NODE:-8}" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "${PYTHON:-python}" -u "$tools_dir/$tool" "$@"
}
