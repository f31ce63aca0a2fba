#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine (issue 6, "Verifying on a GPU"; docs/cuda.md).
#
#   bash scripts/cuda-check.sh pack   on the development machine (node_modules installed; nvcc
#                                     optional): builds dist/cuda-check/ (git-ignored, < 64 MiB):
#                                       check.mjs          scripts/cuda-check.ts bundled by esbuild
#                                       kernels.cu, ptx.generated.js  the kernel source and its PTX
#                                       node_modules/      koffi and its linux-x64 binary only
#                                       node.xz            this machine's node binary, xz-compressed
#                                       fixtures.tar.xz    the 16-bit fixture models and their oracles
#   bash scripts/cuda-check.sh run    on the GPU machine, from the root of the copied repository:
#                                     unpacks node and the fixtures under $TMPDIR, finds NVRTC (the
#                                     CUDA toolkit, or PyTorch's nvidia-cuda-nvrtc wheel), runs
#                                     check.mjs (conformance vs the TS backend, 0.1B/0.4B logits
#                                     and tok/s) and copies its log to $OUT when that is set.
#
# With the device tool: run(command="bash scripts/cuda-check.sh run", carry=["dist/cuda-check"],
# timeout_s=540). check.mjs stops starting new steps after RWKV_CHECK_BUDGET_S (default 420 s).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACK="$ROOT/dist/cuda-check"
CARRY_LIMIT=$((64 * 1024 * 1024))

pack() {
  cd "$ROOT"
  node scripts/build-ptx.mjs
  rm -rf "$PACK"
  mkdir -p "$PACK/node_modules/@koromix"
  # the check program: one ES module; koffi stays external (a native module, carried below)
  node_modules/.bin/esbuild scripts/cuda-check.ts --bundle --platform=node --format=esm --target=node20 \
    --outfile="$PACK/check.mjs" --external:koffi --log-level=warning \
    --banner:js="import { createRequire as __rwkvCreateRequire } from 'node:module'; const require = __rwkvCreateRequire(import.meta.url);"
  cp src/backends/cuda/kernels.cu "$PACK/kernels.cu"
  if [ -f src/backends/cuda/ptx.generated.ts ]; then
    cp src/backends/cuda/ptx.generated.ts "$PACK/ptx.generated.js" # plain JS exports
  else
    echo "cuda-check pack: no embedded PTX (nvcc missing here); the GPU run will use NVRTC only"
  fi
  cp -r node_modules/koffi "$PACK/node_modules/koffi"
  cp -r node_modules/@koromix/koffi-linux-x64 "$PACK/node_modules/@koromix/"
  echo "cuda-check pack: compressing $(command -v node) ($(node --version))"
  xz -T0 -6 -c "$(command -v node)" > "$PACK/node.xz"
  local fx="${RWKV_FIXTURES:-$ROOT/../shared/fixtures}"
  if [ -d "$fx" ]; then
    (cd "$fx" && tar -cJf "$PACK/fixtures.tar.xz" oracle synthetic/oracle \
      tiny-rwkv/*-FP16.safetensors synthetic/models/*.safetensors)
  else
    echo "cuda-check pack: no fixtures at $fx; the GPU run will use random models only"
  fi
  local bytes
  bytes=$(du -sb "$PACK" | cut -f1)
  du -sh "$PACK"/* "$PACK"
  if [ "$bytes" -gt "$CARRY_LIMIT" ]; then
    echo "cuda-check pack: $bytes bytes is over the 64 MiB carry limit" >&2
    exit 1
  fi
  echo "cuda-check pack: ready ($bytes bytes); carry dist/cuda-check"
}

# a command that decompresses xz from stdin (xz, else Python's lzma)
unxz_cmd() {
  if command -v xz > /dev/null; then echo "xz -dc"; else echo "python3 -c 'import lzma,sys; sys.stdout.buffer.write(lzma.decompress(sys.stdin.buffer.read()))'"; fi
}

run() {
  cd "$ROOT"
  [ -f "$PACK/check.mjs" ] || { echo "cuda-check run: $PACK/check.mjs missing: run 'bash scripts/cuda-check.sh pack' and carry dist/cuda-check" >&2; exit 2; }
  local work="${TMPDIR:-/tmp}/rwkv-cuda-check"
  mkdir -p "$work"
  local node=""
  if command -v node > /dev/null && node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
    node="$(command -v node)"
  else
    node="$work/node"
    [ -x "$node" ] || { eval "$(unxz_cmd)" < "$PACK/node.xz" > "$node"; chmod +x "$node"; }
  fi
  echo "node: $node ($("$node" --version))"
  if [ -f "$PACK/fixtures.tar.xz" ] && [ -z "${RWKV_FIXTURES:-}" ]; then
    mkdir -p "$work/fixtures"
    eval "$(unxz_cmd)" < "$PACK/fixtures.tar.xz" | tar -x -C "$work/fixtures"
    export RWKV_FIXTURES="$work/fixtures"
  fi
  # NVRTC: the toolkit's, else the pip wheel PyTorch depends on (nvidia-cuda-nvrtc-cu12)
  if [ -z "${RWKV_CUDA_NVRTC_DIR:-}" ] && ! ls /usr/local/cuda/lib64/libnvrtc.so* > /dev/null 2>&1; then
    local pipdir
    pipdir=$(python3 -c 'import os, nvidia.cuda_nvrtc as m; print(os.path.join(list(m.__path__)[0], "lib"))' 2> /dev/null || true)
    if [ -n "$pipdir" ] && [ -d "$pipdir" ]; then export RWKV_CUDA_NVRTC_DIR="$pipdir"; fi
  fi
  echo "RWKV_CUDA_NVRTC_DIR=${RWKV_CUDA_NVRTC_DIR:-(default paths)} RWKV_FIXTURES=${RWKV_FIXTURES:-(none)}"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2> /dev/null || echo "nvidia-smi: not available"
  ls /usr/local/cuda/lib64/libnvrtc.so* 2> /dev/null || true
  local log="$work/cuda-check.log"
  set +e
  RWKV_CHECK_BUDGET_S="${RWKV_CHECK_BUDGET_S:-420}" RWKV_CUDA_CACHE_DIR="$work/cache" \
    timeout "${RWKV_CHECK_TIMEOUT_S:-520}" "$node" "$PACK/check.mjs" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  if [ -n "${OUT:-}" ]; then cp "$log" "$OUT/cuda-check.log"; fi
  echo "cuda-check run: exit $rc"
  exit "$rc"
}

case "${1:-}" in
  pack) pack ;;
  run) run ;;
  *) echo "usage: bash scripts/cuda-check.sh pack|run" >&2; exit 2 ;;
esac
