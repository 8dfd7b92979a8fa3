#!/usr/bin/env bash
# Language-model training on one NVIDIA GPU, atelier against PyTorch (transformers'
# LlamaForCausalLM, bf16 autocast, fused AdamW) on the same machine, same model shape
# (SmolLM2-135M: 30 layers x 576, 9 heads, 3 KV heads, 49,152 tokens), same batch
# (8 x 1,024 tokens) and optimizer; plus both on the machine's CPU (8 threads) for the
# 135M shape and a 10M one. Reports tokens/s, MFU (6 x parameters x tokens/s against the
# GPU's 989 TFLOP/s dense bf16) and the NVML energy of atelier's bill.
#
#   bash bench/lm/prepare-gpu.sh          # here: CUDA build, data, settings -> bench/.gpu
#   bash bench/lm/gpu.sh [gpu] [cpu] [export]   # there (all parts by default): results
#                                               in $OUT (or bench/.work/lm-gpu)
#
# export: the 10M model's safetensors export loaded by transformers gives the validation
# loss atelier reported (bench/lm/hf_check.py).
#
# The GPU machine has no network: the weights are random (speed does not depend on
# them), the data are the ham mails' SmolLM2 token shards made here.
set -uo pipefail
cd "$(dirname "$0")/../.."
g=bench/.gpu
out=${OUT:-bench/.work/lm-gpu}
mkdir -p "$out"
exec > >(tee "$out/gpu.log") 2>&1
gunzip -c $g/atelier.gz > /tmp/atelier && chmod +x /tmp/atelier
nv=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])')
libs=$(find "$nv" -name 'lib*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH=$g:$libs/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "date: $(date -u +%Y-%m-%dT%H:%MZ); cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"

# Logs stay in /tmp/lm-logs (the device tool returns at most 8 files): $out gets the
# JSON results, the summary and gpu.log.
logs=/tmp/lm-logs
mkdir -p $logs
ours() { # name, settings, extra flags...
  local name=$1 settings=$2; shift 2
  /tmp/atelier lm train --settings "$settings" --tokens $g/tokens \
    --tokenizer $g/tokenizer.json -o "/tmp/$name" "$@" 2> "$logs/$name.err"
  cp "/tmp/$name/outcome.json" "$out/$name.json" 2>/dev/null || tail -5 "$logs/$name.err"
}
torch() { # name, config, flags...
  local name=$1 config=$2; shift 2
  python3 bench/lm/train_torch.py --scratch "$config" --out "$out/$name.json" "$@" \
    > "$logs/$name.txt" 2>&1 || tail -5 "$logs/$name.txt"
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(gpu cpu export)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }
if want gpu; then
  ours atelier-gpu $g/135m.toml --gpu --steps 30 --batch 8 --context 1024
  torch torch-gpu $g/135m.json --device cuda --bf16 --batch 8 --context 1024 --steps 20 --warmup 5
fi
if want cpu; then
  ours atelier-cpu-135m $g/135m.toml --threads 8 --steps 5 --batch 2 --context 256
  torch torch-cpu-135m $g/135m.json --device cpu --threads 8 --batch 2 --context 256 --steps 3 --warmup 2
  ours atelier-cpu-10m $g/10m.toml --threads 8 --steps 12 --batch 8 --context 256
  torch torch-cpu-10m $g/10m.json --device cpu --threads 8 --batch 8 --context 256 --steps 8 --warmup 2
fi
if want export; then
  [ -d /tmp/atelier-cpu-10m/model/hf ] ||
    ours atelier-cpu-10m $g/10m.toml --threads 8 --steps 12 --batch 8 --context 256
  python3 bench/lm/hf_check.py --run /tmp/atelier-cpu-10m --tokens $g/tokens |
    tee "$out/hf-check.json"
fi
python3 bench/lm/gpu_summary.py "$out" | tee "$out/summary.md"
