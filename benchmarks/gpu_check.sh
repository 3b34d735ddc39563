#!/usr/bin/env bash
# GPU check, sized for about 8 minutes on one GPU (not yet timed on one): the CUDA tests, eager vs torch.compile vs CUDA graphs on the
# update (numerics and updates/s), then the MT10 recipe for a fixed time per env backend and collector
# mode (frames/s and the projected wall-clock of 20M frames).
#
#   bash benchmarks/gpu_check.sh                 # from the repository root
#   SECONDS_PER_VARIANT=60 bash benchmarks/gpu_check.sh
#
# On a machine without a package index, put cp312 wheels of the dependencies that are missing into
# .whl/ first (see benchmarks/README.md, "GPU check"); they are installed without dependency resolution,
# each only if its distribution is not installed yet. Everything printed also goes to $OUT/gpu_check.log
# ($OUT defaults to runs/gpu_check).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-runs/gpu_check}"
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
SECONDS_PER_VARIANT="${SECONDS_PER_VARIANT:-45}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T), ${SECONDS}s in)"; }

step "0. machine and dependencies"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if compgen -G ".whl/*.whl" > /dev/null; then
  python - <<'PY'
import glob, importlib.metadata as md, subprocess, sys
missing = []
for wheel in sorted(glob.glob(".whl/*.whl")):
    dist = wheel.split("/")[-1].split("-")[0]
    try:
        md.version(dist)
    except md.PackageNotFoundError:
        missing.append(wheel)
print("installing:", " ".join(w.split("/")[-1] for w in missing) or "nothing")
if missing:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", *missing], check=False)
PY
fi
python -c "
import os, torch, torchrl, tensordict, metaworld, mujoco, numpy, scipy
print(f'torch {torch.__version__} (CUDA {torch.version.cuda}), torchrl {torchrl.__version__}, tensordict {tensordict.__version__}, '
      f'mujoco {mujoco.__version__}, numpy {numpy.__version__}; {os.cpu_count()} CPU cores')
print('GPU:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'NONE')
" || { echo "dependencies missing: stop"; exit 1; }

step "1. CUDA tests"
timeout 240 python -m pytest -q -p no:cacheprovider -o addopts="" -W ignore::DeprecationWarning \
  tests/test_cuda.py $(ls tests/test_any_layout.py 2>/dev/null) tests/test_metaworld_env.py tests/test_replay.py \
  -k cuda -rs

step "2. update: eager vs compile vs CUDA graphs (MT10 shapes)"
(cd benchmarks && timeout 240 python update_backends.py --steps 50 --rounds 5)

step "3. MT10 recipe per env backend and collector mode (${SECONDS_PER_VARIANT} s each)"
timeout 420 python benchmarks/recipe_backends.py --seconds "$SECONDS_PER_VARIANT"

step "done"
