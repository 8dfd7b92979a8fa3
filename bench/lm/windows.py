"""The validation windows atelier evaluated in a training run: the validation documents
of the token shards end to end, as atelier's reader lays them (the index's shard order,
one layout), cut into windows of `context + 1` tokens; the first `eval_windows`.
Shared by hf_check.py and gguf_check.py."""

import json
import pathlib

import numpy as np


def validation_windows(run: pathlib.Path, tokens: pathlib.Path):
    """(outcome.json as a dict, list of (inputs, targets) int64 arrays)."""
    outcome = json.loads((run / "outcome.json").read_text())
    o, s = outcome["outcome"], outcome["settings"]
    index = json.loads((tokens / "index.json").read_text())
    dtype = {"uint16": np.uint16, "uint32": np.uint32}[index["dtype"]]
    layout = index["shards"][0]["layout"]
    stream = np.concatenate([
        np.fromfile(tokens / sh["files"][0], dtype=dtype)
        for sh in index["shards"] if sh["split"] == "validation" and sh["layout"] == layout
    ]).astype(np.int64)
    context = o["context"]
    n = min(s["eval_windows"], (len(stream) - 1) // context)
    return outcome, [(stream[i * context:(i + 1) * context],
                      stream[i * context + 1:(i + 1) * context + 1]) for i in range(n)]
