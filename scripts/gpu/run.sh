#!/usr/bin/env bash
# On a GPU machine with a Vulkan driver (and no Node, npm or network): every shared
# case on the GPU, every benchmark row (those up to 10^6 elements once more on each
# training path, for GPU_TUNING's onePassElements), and PyTorch on the same card
# where it has CUDA, each result under OUT. Builds nothing: it runs what scripts/gpu/pack.sh
# made here (.gpu/, tests/dist/cases.js, bench/dist/node.js). From the project root:
#   bash scripts/gpu/run.sh OUT
# Exits non-zero when a step failed; the others still run, and OUT/summary.txt says which.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: bash scripts/gpu/run.sh OUT}
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
failed=0
step() { # step NAME COMMAND...: runs it, its output in OUT/NAME.log
  local name=$1
  shift
  local start=$SECONDS
  "$@" > "$out/$name.log" 2>&1
  local status=$?
  echo "$name: exit $status in $((SECONDS - start)) s" | tee -a "$summary"
  [ "$status" -eq 0 ] || failed=1
}

# Node, the Vulkan loader and Dawn from .gpu/, unpacked into .gpu/ itself
for f in tests/dist/cases.js bench/dist/node.js .gpu/node.xz .gpu/webgpu/dawn.node.xz; do
  [ -f "$f" ] || { echo "missing $f: run scripts/gpu/pack.sh where npm is, and carry .gpu/, tests/dist/ and bench/dist/" >&2; exit 2; }
done
bin=$PWD/.gpu/bin
mkdir -p "$bin"
[ -x "$bin/node" ] || { xz -dc .gpu/node.xz > "$bin/node" && chmod +x "$bin/node"; }
export PATH="$bin:$PATH"
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  for deb in .gpu/libvulkan1_*.deb; do dpkg-deb -x "$deb" .gpu/loader; done
  export LD_LIBRARY_PATH=$PWD/.gpu/loader/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
w=node_modules/webgpu
if [ ! -f $w/dist/linux-x64/dawn.node ]; then
  mkdir -p $w/dist/linux-x64
  cp .gpu/webgpu/package.json .gpu/webgpu/index.js $w/
  xz -dc .gpu/webgpu/dawn.node.xz > $w/dist/linux-x64/dawn.node
fi

# NVIDIA's container images keep their ICD outside the loader's default folders
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/share/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$icd" ] && export VK_ADD_DRIVER_FILES=$icd && break
done

{
  echo "date: $(date -u +%FT%TZ)"
  echo "node: $(node --version)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
  echo "VK_ADD_DRIVER_FILES: ${VK_ADD_DRIVER_FILES:-unset}"
} | tee "$out/machine.txt"

step cases node tests/dist/cases.js --adapter gpu
step bench node bench/dist/node.js --adapter gpu --out "$out/bench"
# the GPU tuning's onePassElements: the rows up to 10^6 elements on each path, whatever the size
small=(--only "training size" --only "NC [64, 128]" --only "NC [4096, 256]")
step bench-one-pass node bench/dist/node.js --adapter gpu "${small[@]}" --tuning '{"onePassElements":4294967295}' --out "$out/bench-one-pass"
step bench-three-passes node bench/dist/node.js --adapter gpu "${small[@]}" --tuning '{"onePassElements":0}' --out "$out/bench-three-passes"
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  step torch python3 bench/torch-cuda.py --json "$out/torch-cuda.json"
else
  echo "torch: no PyTorch with CUDA here, skipped" | tee -a "$summary"
fi
exit $failed
