#!/usr/bin/env bash
# Idempotent installer for emo_mm on a CPU machine (Linux x86-64, Python 3.11).
#
# Creates ./.venv, installs the pinned stack from requirements/pinned.txt, builds
# mmcv 2.1.0 with its C++ ops once and caches the wheel under
# ~/.cache/emo_mm/wheels/torch-<version>/, then installs emo_mm in editable mode. Where
# Slurm is missing and the script runs as root with apt-get, it installs Debian's
# slurm-wlm, which the Slurm tests start as a throwaway one-node cluster.
# A second run only checks that everything is in place (a few seconds).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON_BIN="${PYTHON:-python3.11}"
PINS="$ROOT/requirements/pinned.txt"
TORCH_VERSION="$(sed -n 's/^torch==//p' "$PINS")"
MMCV_VERSION="$(sed -n 's/^mmcv==//p' "$PINS")"
# sha256 of mmcv-2.1.0.tar.gz as published on PyPI.
MMCV_SDIST_SHA256="d387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f"
CACHE_DIR="${EMO_MM_CACHE:-$HOME/.cache/emo_mm}/wheels/torch-${TORCH_VERSION}"
STAMP="$VENV/.emo_mm_install_stamp"

log() { printf '[install] %s\n' "$*"; }
start=$(date +%s)

have_slurm() { command -v slurmctld >/dev/null 2>&1 || [[ -x /usr/sbin/slurmctld ]]; }
if ! have_slurm; then
  if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "Slurm (Debian's slurm-wlm) for the Slurm tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null
  else
    log "Slurm is not installed and this script cannot install it (needs root and apt-get);"
    log "the Slurm tests need slurmctld, slurmd, srun and sbatch: install slurm-wlm first"
  fi
fi

# The stamp holds a hash of everything that decides what gets installed.
want_stamp="$(cat "$PINS" "$ROOT/pyproject.toml" "$0" | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]] \
   && "$VENV/bin/python" -c "import emo_mm, mmcv.ops" >/dev/null 2>&1; then
  log "environment in $VENV is up to date"
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $PYTHON_BIN"
  "$PYTHON_BIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check -c "$PINS")

log "build tools"
"${PIP[@]}" -q --upgrade pip "setuptools<81" wheel ninja

log "torch==$TORCH_VERSION torchvision (pinned; never resolved by pip on its own)"
"${PIP[@]}" -q torch torchvision

have_mmcv_ops() {
  "$PY" - "$MMCV_VERSION" <<'PY' >/dev/null 2>&1
import sys
import mmcv
from mmcv.ops import nms  # noqa: F401  (fails when the C++ ops are missing)
sys.exit(0 if mmcv.__version__ == sys.argv[1] else 1)
PY
}

if ! have_mmcv_ops; then
  mkdir -p "$CACHE_DIR"
  wheel="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$wheel" ]]; then
    log "building mmcv $MMCV_VERSION with C++ ops against torch $TORCH_VERSION (12-40 min on 2 cores)"
    build_dir="$(mktemp -d)"
    trap 'rm -rf "$build_dir"' EXIT
    # mmcv's runtime requirements first, so the build's import checks pass.
    "${PIP[@]}" -q addict mmengine "numpy" packaging Pillow pyyaml yapf opencv-python
    # The source archive, by name from the package index pip is configured with.
    "$PY" -m pip download --disable-pip-version-check -q --no-binary :all: --no-deps \
      --no-build-isolation -d "$build_dir" "mmcv==$MMCV_VERSION"
    echo "$MMCV_SDIST_SHA256  $build_dir/mmcv-$MMCV_VERSION.tar.gz" | sha256sum -c --quiet
    tar -xzf "$build_dir/mmcv-$MMCV_VERSION.tar.gz" -C "$build_dir"
    src="$build_dir/mmcv-$MMCV_VERSION"
    # torch >= 2.10 headers need C++20; mmcv 2.1.0 hard-codes -std=c++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    # CFLAGS replaces Python's default flags: keep -O3, drop debug info (2 MB wheel instead of 32 MB).
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      CFLAGS="-O3 -g0 -DNDEBUG -fwrapv" \
      "$PY" -m pip wheel --no-deps --no-build-isolation --no-cache-dir -w "$CACHE_DIR" .)
    wheel="$(ls "$CACHE_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
    log "cached $wheel"
  else
    log "using cached $wheel"
  fi
  "${PIP[@]}" -q --no-deps --force-reinstall "$wheel"
fi

log "emo_mm and the OpenMMLab packages"
"${PIP[@]}" -q -e "$ROOT[tests,deploy,tensorboard]" mmengine mmdet mmsegmentation mmpretrain
have_mmcv_ops || { log "mmcv ops are not importable after install"; exit 1; }

echo "$want_stamp" > "$STAMP"
log "done in $(( $(date +%s) - start )) s"
