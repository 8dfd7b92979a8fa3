#!/usr/bin/env python3
"""A llama GGUF file (SmolLM2-135M-Instruct Q4_1) as a Hugging Face directory, read by
transformers' own GGUF loader: PyTorch then starts from the same dequantized float32
weights as atelier. Needs torch, transformers and the `gguf` package.

    python3 bench/lm/to_hf.py --gguf bench/.work/lm/SmolLM2-135M-Instruct.Q4_1.gguf --out DIR
"""
import argparse
import json
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    folder, name = os.path.split(os.path.abspath(args.gguf))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    print(json.dumps({"out": args.out, "params": sum(p.numel() for p in model.parameters()),
                      "vocab": model.config.vocab_size, "tied": model.config.tie_word_embeddings}))


if __name__ == "__main__":
    main()
