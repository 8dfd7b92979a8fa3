#!/usr/bin/env bash
# Prepares bench/.gpu for bench/lm/gpu.sh (which runs on the GPU machine): the CUDA
# build of atelier (scripts/build-cuda.sh), SmolLM2's tokenizer, the ham mails' token
# shards (examples/assistant), and the two model shapes as atelier settings and as
# transformers configs. Everything fits the device tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
g=bench/.gpu
rm -rf $g && mkdir -p $g
bash scripts/build-cuda.sh
strip -o $g/atelier target/cuda/release/atelier && gzip -f $g/atelier
cp "${CUDA_KIT:-target/cuda-kit}/nvidia/cu13/lib/libcudart.so.13" $g/
# The CPU build makes the data (ATELIER_BIN: another build of it).
bin=${ATELIER_BIN:-target/release/atelier}
[ -n "${ATELIER_BIN:-}" ] || cargo build -q --release -p atelier
model=bench/.work/lm/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f examples/assistant/SmolLM2-135M-Instruct.Q4_1.gguf ] || cp "$model" examples/assistant/
[ -f examples/assistant/out/dataset/tokens/index.json ] || "$bin" run examples/assistant/atelier.toml
"$bin" tokenizer export "$model" -o $g/tokenizer.json
cp -r examples/assistant/out/dataset/tokens $g/tokens
# 135M: SmolLM2's shape; 10M: ten million parameters besides the embedding.
shape() { # file, layers, width, heads, kv, ffn
  cat > "$g/$1.toml" <<TOML
eval_every = 1000
eval_windows = 8
checkpoint_every = 1000
warmup_steps = 2
lr = 1e-4
[shape]
layers = $2
width = $3
heads = $4
kv_heads = $5
ffn = $6
context = 2048
TOML
  python3 - "$g/$1.json" "$2" "$3" "$4" "$5" "$6" <<'PY'
import json, sys
p, layers, width, heads, kv, ffn = sys.argv[1], *map(int, sys.argv[2:])
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 49152,
           "hidden_size": width, "intermediate_size": ffn, "num_hidden_layers": layers,
           "num_attention_heads": heads, "num_key_value_heads": kv,
           "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "tie_word_embeddings": True, "hidden_act": "silu"}, open(p, "w"), indent=1)
PY
}
shape 135m 30 576 9 3 1536
shape 10m 6 384 6 2 1024
du -sh $g
