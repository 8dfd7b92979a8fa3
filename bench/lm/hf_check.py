"""Loads atelier's safetensors export in transformers and computes the validation loss
atelier reported for it: the same windows (bench/lm/windows.py), the same mean cross
entropy per predicted token, float32 on the CPU.

    python3 bench/lm/hf_check.py --run RUN_DIR --tokens TOKENS_DIR

RUN_DIR is `atelier lm train -o`'s folder (its outcome.json and model/hf).
"""

import argparse
import json
import pathlib

import numpy as np
import torch
from transformers import LlamaForCausalLM

from windows import validation_windows

p = argparse.ArgumentParser()
p.add_argument("--run", type=pathlib.Path, required=True)
p.add_argument("--tokens", type=pathlib.Path, required=True)
a = p.parse_args()

outcome, windows = validation_windows(a.run, a.tokens)
model = LlamaForCausalLM.from_pretrained(a.run / "model" / "hf", dtype=torch.float32,
                                         attn_implementation="eager").eval()
total, count = 0.0, 0
with torch.no_grad():
    for x, y in windows:
        logits = model(input_ids=torch.tensor(x)[None]).logits[0].float()
        total += torch.nn.functional.cross_entropy(logits, torch.tensor(y), reduction="sum").item()
        count += len(y)
ours = outcome["outcome"]["validation"]["loss"]
theirs = total / count
print(json.dumps({"atelier_loss": ours, "transformers_loss": theirs,
                  "difference": abs(ours - theirs), "tokens": count}))
