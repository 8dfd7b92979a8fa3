"""Loads atelier's GGUF exports in llama.cpp (llama-cpp-python) and computes the
validation perplexity atelier reported for the trained model: the same windows
(bench/lm/windows.py), each evaluated from an empty context.

    python3 bench/lm/gguf_check.py --run RUN_DIR --tokens TOKENS_DIR [--threads 2]

RUN_DIR is `atelier lm train -o`'s folder (its outcome.json and model/*.gguf).
"""

import argparse
import json
import math
import pathlib

import numpy as np
from llama_cpp import Llama

from windows import validation_windows

p = argparse.ArgumentParser()
p.add_argument("--run", type=pathlib.Path, required=True)
p.add_argument("--tokens", type=pathlib.Path, required=True)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()

outcome, windows = validation_windows(a.run, a.tokens)
ours = outcome["outcome"]["validation"]["perplexity"]
result = {"atelier_perplexity": ours}
for gguf in sorted((a.run / "model").glob("*.gguf")):
    llm = Llama(model_path=str(gguf), n_ctx=len(windows[0][0]), logits_all=True,
                n_threads=a.threads, n_batch=len(windows[0][0]), verbose=False)
    total, count = 0.0, 0
    for x, y in windows:
        llm.reset()
        llm.eval(x.tolist())
        scores = np.asarray(llm.scores[:len(x)], dtype=np.float64)
        top = scores.max(axis=1, keepdims=True)
        logz = (top[:, 0] + np.log(np.exp(scores - top).sum(axis=1)))
        total += float((logz - scores[np.arange(len(y)), y]).sum())
        count += len(y)
    theirs = math.exp(total / count)
    result[gguf.name] = {"llama_cpp_perplexity": theirs,
                         "relative_difference": abs(theirs - ours) / ours}
print(json.dumps(result, indent=1))
