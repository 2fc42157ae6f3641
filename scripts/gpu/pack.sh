#!/usr/bin/env bash
# Makes what scripts/gpu/run.sh needs on a GPU machine that has a Vulkan driver but no
# Node, no npm install and no network: the built shared cases (tests/dist/cases.js)
# and benchmark (bench/dist/node.js), and in .gpu/ this machine's node binary, the
# npm `webgpu` package's Linux dawn.node and Debian's Vulkan loader, compressed
# (about 30 MiB). Run here, from the project root, after `npm ci`:
#   bash scripts/gpu/pack.sh
# then carry .gpu/, tests/dist/ and bench/dist/ over and run scripts/gpu/run.sh there.
set -euo pipefail
cd "$(dirname "$0")/../.."
npx vite build -c tests/vite.cases.config.ts --logLevel warn
npx vite build -c bench/vite.config.ts --logLevel warn
out=.gpu
mkdir -p "$out/webgpu"
node_bin=$(readlink -f "$(command -v node)")
[ -f "$out/node.xz" ] || xz -T0 -6 -c "$node_bin" > "$out/node.xz"
pkg=$(node -e "console.log(require('path').dirname(require.resolve('webgpu/package.json')))")
cp "$pkg/package.json" "$pkg/index.js" "$out/webgpu/"
[ -f "$out/webgpu/dawn.node.xz" ] || xz -T0 -6 -c "$pkg/dist/linux-x64/dawn.node" > "$out/webgpu/dawn.node.xz"
if ! ls "$out"/libvulkan1_*.deb >/dev/null 2>&1; then
  (cd "$out" && apt-get download libvulkan1 2>/dev/null)
fi
du -sh "$out" tests/dist bench/dist
