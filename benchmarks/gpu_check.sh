#!/usr/bin/env bash
# GPU check, sized for about 8 minutes on one GPU (not yet timed on one): the CUDA tests, eager vs torch.compile vs CUDA graphs on the
# update (numerics and updates/s), then the MT10 recipe for a fixed time per env backend and collector
# mode (frames/s and the projected wall-clock of 20M frames).
#
#   bash benchmarks/gpu_check.sh                 # from the repository root
#   SECONDS_PER_VARIANT=60 bash benchmarks/gpu_check.sh
#   TESTS_TIMEOUT=150 UPDATE_TIMEOUT=150 UPDATE_STEPS=30 UPDATE_ROUNDS=3 RECIPE_TIMEOUT=200 SECONDS_PER_VARIANT=30 \
#     bash benchmarks/gpu_check.sh       # a shorter run (each step stops at its timeout)
#   UPDATE_VARIANTS="eager compile|eager cudagraphs" RECIPE_VARIANTS="gym_vector/sync parallel/sync" \
#     bash benchmarks/gpu_check.sh       # '|' separates update_backends.py runs (one process each)
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
TESTS_TIMEOUT="${TESTS_TIMEOUT:-240}" UPDATE_TIMEOUT="${UPDATE_TIMEOUT:-240}" RECIPE_TIMEOUT="${RECIPE_TIMEOUT:-420}"
UPDATE_STEPS="${UPDATE_STEPS:-50}" UPDATE_ROUNDS="${UPDATE_ROUNDS:-5}"
SITE=/tmp/paco_site  # missing wheels go here (the machine's own site-packages may be read-only)
PY="${PY:-$(command -v python3 || command -v python)}"  # the GPU image's torch is under python3
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
step() { echo; echo "=== $* ($(date +%T), ${SECONDS}s in)"; }

step "0. machine and dependencies"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PY" - "$SITE" <<'PY'
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
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--target", sys.argv[1], *missing], check=False)
PY
fi
"$PY" -c "
import os, torch, torchrl, tensordict, metaworld, mujoco, numpy, scipy
print(f'torch {torch.__version__} (CUDA {torch.version.cuda}), torchrl {torchrl.__version__}, tensordict {tensordict.__version__}, '
      f'mujoco {mujoco.__version__}, numpy {numpy.__version__}; {os.cpu_count()} CPU cores')
print('GPU:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'NONE')
" || { echo "dependencies missing: stop"; exit 1; }

step "1. CUDA tests"
# CUDA-graph tests last and in their own process: a failed capture leaves the CUDA generator unusable for
# the rest of its process (every later random draw fails), which would hide the other results
timeout "$TESTS_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -W ignore::DeprecationWarning \
  tests/test_cuda.py -k "not cudagraph" -rs
timeout "$TESTS_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -W ignore::DeprecationWarning \
  tests/test_any_layout.py tests/test_metaworld_env.py tests/test_replay.py tests/test_no_host_sync.py -k "cuda or host" -rs
timeout "$TESTS_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -W ignore::DeprecationWarning \
  tests/test_cuda.py -k cudagraph -rs

step "2. update: eager vs compile vs CUDA graphs (MT10 shapes)"
# without CUDA graphs, then with them in a second process (a failed capture spoils the rest of its process)
UPDATE_VARIANTS="${UPDATE_VARIANTS:-eager compile|eager cudagraphs compile+cudagraphs}"
IFS='|' read -ra update_runs <<< "$UPDATE_VARIANTS"
for variants in "${update_runs[@]}"; do
  (cd benchmarks && timeout "$UPDATE_TIMEOUT" "$PY" update_backends.py --steps "$UPDATE_STEPS" --rounds "$UPDATE_ROUNDS" \
    --variants $variants)
done

step "2b. one actor call on [s; s'] vs two calls (issue #16 item 2)"
timeout 90 "$PY" benchmarks/merged_calls.py --device cuda --rounds 50

step "3. MT10 recipe per env backend and collector mode (${SECONDS_PER_VARIANT} s each)"
timeout "$RECIPE_TIMEOUT" "$PY" benchmarks/recipe_backends.py --seconds "$SECONDS_PER_VARIANT" \
  ${RECIPE_VARIANTS:+--variants $RECIPE_VARIANTS}

step "done"
