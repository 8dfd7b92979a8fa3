#!/usr/bin/env bash
# Builds atelier with the `cuda` feature (training and generation on NVIDIA GPUs) on a
# machine without a GPU or a CUDA install: NVIDIA's CUDA 13.0 toolkit wheels from PyPI
# give nvcc and the headers (the `-cu12` nvcc wheel holds no nvcc), and stub libraries
# stand in for the driver and the math libraries at link time (cudarc loads the real
# ones when the program runs).
#
#   bash scripts/build-cuda.sh        ->  target/cuda/release/atelier
#
# CUDA_COMPUTE_CAP (default 90: H100/H200) picks the GPU generation of candle's kernels;
# CUDA_KIT (default target/cuda-kit) is where the toolkit is unpacked, once.
# At run time the GPU machine needs the driver and libcudart.so.13, libcublas(Lt).so.13,
# libcurand.so.10 and libnvrtc.so.13 on LD_LIBRARY_PATH (PyTorch's cu13 wheels have them).
set -euo pipefail
cd "$(dirname "$0")/.."
kit=$(realpath -m "${CUDA_KIT:-target/cuda-kit}")
cu=$kit/nvidia/cu13
if [ ! -x "$cu/bin/nvcc" ]; then
  mkdir -p "$kit/wheels"
  python3 -m pip download -q --no-deps -d "$kit/wheels" \
    nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
    nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85
  for w in "$kit"/wheels/*.whl; do python3 -m zipfile -e "$w" "$kit"; done
  chmod +x "$cu"/bin/* "$cu"/nvvm/bin/* 2>/dev/null || true
  rm -rf "$kit/wheels"
fi
# Unversioned names for the linker.
[ -e "$cu/lib/libcudart.so" ] || ln -s libcudart.so.13 "$cu/lib/libcudart.so"
export PATH=$cu/bin:$PATH CUDA_ROOT=$cu CUDA_PATH=$cu CUDA_HOME=$cu
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export LIBRARY_PATH=$kit/stubs:$cu/lib${LIBRARY_PATH:+:$LIBRARY_PATH}
export CARGO_TARGET_DIR=target/cuda
# cudarc links the driver and the math libraries by name: stand-ins with the real
# sonames and every symbol cudarc calls, each in its own library (the driver's `cu*`,
# `nvrtc*`, `curand*`, `cublasLt*`, `cublas*`), so the binary asks for the right ones.
cargo build --release --features cuda -p atelier-lm
mkdir -p "$kit/stubs"
nm -u "$CARGO_TARGET_DIR"/release/deps/libcudarc-*.rlib 2>/dev/null | awk '$1 == "U" {print $2}' |
  sort -u > "$kit/stubs/symbols.txt"
stub() { # soname, symbol pattern
  local so=$1 pattern=$2 base=${1%%.so*}.so
  grep -E "$pattern" "$kit/stubs/symbols.txt" | sed 's/.*/void &(void) {}/' > "$kit/stubs/${base%.so}.c"
  cc -shared -fPIC -o "$kit/stubs/$base" -Wl,-soname,"$so" "$kit/stubs/${base%.so}.c"
}
stub libcuda.so.1 '^cu[A-Z]'
stub libnvrtc.so.13 '^nvrtc'
stub libcurand.so.10 '^curand'
stub libcublasLt.so.13 '^cublasLt'
stub libcublas.so.13 '^cublas[^L]'
cargo build --release --features cuda -p atelier
ls -la target/cuda/release/atelier
