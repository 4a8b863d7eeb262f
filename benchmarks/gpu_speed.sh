#!/usr/bin/env bash
# The GPU benchmark of issue 15, in two steps.
#
#   bash benchmarks/gpu_speed.sh --prepare   # here: wheels the device image lacks, and the data, into .gpu/
#   bash benchmarks/gpu_speed.sh             # on the device machine (carry .gpu), from the repository root
#
# The device machine has no network: its image holds torch, numpy, safetensors, typer, rich, matplotlib,
# pillow and scikit-learn, but not pydantic, which travels as wheels; binarized MNIST (3 MB) travels too.
# Results go to $OUT/gpu_speed.json (or benchmarks/results/ when $OUT is unset) and the log to $OUT/log.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--prepare" ]; then
  mkdir -p .gpu/wheels .gpu/data
  grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/wheels \
    pydantic==2.11.7 pydantic-core==2.33.2 annotated-types==0.7.0 typing-inspection==0.4.1
  cp -r "${VAEKIT_DATA_DIR:-../shared/data}/binarized_mnist" .gpu/data/
  du -sh .gpu
  exit 0
fi
out="${OUT:-benchmarks/results}"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/wheels/*.whl
export PYTHONPATH="/tmp/site:$PWD/src" VAEKIT_DATA_DIR="$PWD/.gpu/data" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, vaekit; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
python3 benchmarks/gpu_speed.py --out "$out/gpu_speed.json" 2>&1 | tee "$out/log"
