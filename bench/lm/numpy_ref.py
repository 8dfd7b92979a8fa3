#!/usr/bin/env python3
"""Float64 numpy referee for SmolLM2-135M-Instruct (GGUF, llama architecture).

Dequantizes every tensor of the GGUF file to float64 and runs a plain forward pass:
RMSNorm, exact interleaved-pair RoPE (GGUF / llama.cpp LLAMA_ROPE_TYPE_NORM), causal
GQA attention, SwiGLU, final norm, tied output head. Compares prompt log-probabilities
with llama.cpp (bench/.work/lm/greedy.jsonl) and with atelier (`atelier lm generate
--prompt-logprobs`).

    bench/.venv/bin/python bench/lm/numpy_ref.py [--prompts 5] [--no-atelier]

Dequantized weights are cached (float32, exact) in bench/.work/lm/numpy_ref_weights.npz.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
WORK = os.path.join(ROOT, "bench", ".work", "lm")
MODEL = os.path.join(WORK, "SmolLM2-135M-Instruct.Q4_1.gguf")
CACHE = os.path.join(WORK, "numpy_ref_weights.npz")


def load_weights(model):
    if os.path.exists(CACHE) and os.path.getmtime(CACHE) >= os.path.getmtime(model):
        with np.load(CACHE) as z:
            return {k: z[k] for k in z.files}
    import gguf
    r = gguf.GGUFReader(model)
    w = {}
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        # GGUF shape [ne0, ne1] -> numpy (ne1, ne0): rows = output features.
        a = np.asarray(a, dtype=np.float32).reshape([int(n) for n in reversed(t.shape)])
        w[t.name] = a
    np.savez(CACHE, **w)
    return w


class Model:
    def __init__(self, w, n_layer=30, n_head=9, n_kv=3, head_dim=64, eps=1e-5, base=100000.0):
        self.w = {k: v.astype(np.float64) for k, v in w.items()}
        self.n_layer, self.n_head, self.n_kv, self.hd = n_layer, n_head, n_kv, head_dim
        self.eps, self.base = eps, base
        self.emb = self.w["token_embd.weight"]  # (vocab, 576)
        self.out = self.w.get("output.weight", self.emb)

    def rms(self, x, g):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * g

    def rope(self, x, pos):
        # x: (T, H, 64); rotate adjacent pairs (x[2i], x[2i+1]) by pos * base^(-2i/64).
        i = np.arange(self.hd // 2, dtype=np.float64)
        theta = pos[:, None] * self.base ** (-2.0 * i / self.hd)  # (T, 32)
        c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        y = np.empty_like(x)
        y[..., 0::2] = x0 * c - x1 * s
        y[..., 1::2] = x0 * s + x1 * c
        return y

    def logits(self, ids):
        T = len(ids)
        H, KV, hd = self.n_head, self.n_kv, self.hd
        pos = np.arange(T, dtype=np.float64)
        x = self.emb[np.asarray(ids)]  # (T, 576)
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for l in range(self.n_layer):
            p = f"blk.{l}."
            h = self.rms(x, self.w[p + "attn_norm.weight"])
            q = (h @ self.w[p + "attn_q.weight"].T).reshape(T, H, hd)
            k = (h @ self.w[p + "attn_k.weight"].T).reshape(T, KV, hd)
            v = (h @ self.w[p + "attn_v.weight"].T).reshape(T, KV, hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            rep = H // KV
            k = np.repeat(k, rep, axis=1)  # head h -> kv head h // rep
            v = np.repeat(v, rep, axis=1)
            s = np.einsum("thd,uhd->htu", q, k) / np.sqrt(hd) + mask
            s = s - s.max(axis=-1, keepdims=True)
            a = np.exp(s)
            a /= a.sum(axis=-1, keepdims=True)
            o = np.einsum("htu,uhd->thd", a, v).reshape(T, H * hd)
            x = x + o @ self.w[p + "attn_output.weight"].T
            h = self.rms(x, self.w[p + "ffn_norm.weight"])
            g = h @ self.w[p + "ffn_gate.weight"].T
            u = h @ self.w[p + "ffn_up.weight"].T
            x = x + ((g / (1.0 + np.exp(-g))) * u) @ self.w[p + "ffn_down.weight"].T
        x = self.rms(x, self.w["output_norm.weight"])
        return x @ self.out.T  # (T, vocab)


def log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def atelier_logprobs(prompts):
    exe = os.path.join(ROOT, "target", "release", "atelier")
    cmd = [exe, "lm", "generate", "-m", MODEL, "--raw", "--max-tokens", "1", "--prompt-logprobs"]
    inp = "".join(json.dumps(p) + "\n" for p in prompts)
    out = subprocess.run(cmd, input=inp, capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=5)
    ap.add_argument("--no-atelier", action="store_true")
    args = ap.parse_args()
    rows = [json.loads(l) for l in open(os.path.join(WORK, "greedy.jsonl"))][: args.prompts]
    m = Model(load_weights(MODEL))
    ours = None if args.no_atelier else atelier_logprobs([r["prompt"] for r in rows])
    fmt = lambda xs: " ".join(f"{x:9.4f}" for x in xs)
    for n, r in enumerate(rows):
        ids = r["prompt_ids"]
        lp = log_softmax(m.logits(ids))
        ref = np.array([lp[i - 1, ids[i]] for i in range(1, len(ids))])
        llc = np.array(r["prompt_logprobs"][1:], dtype=np.float64)
        d1 = np.abs(ref - llc)
        line = f"prompt {n}: T={len(ids)} |np-llama.cpp| max {d1.max():.4f} mean {d1.mean():.4f}"
        at = None
        if ours is not None:
            g = ours[n]
            same = g.get("prompt_tokens") == ids
            at = np.array(g["prompt_logprobs"][1:], dtype=np.float64)
            d2 = np.abs(ref - at)
            line += f" | |np-atelier| max {d2.max():.4f} mean {d2.mean():.4f} (ids match: {same})"
        nxt = int(lp[-1].argmax())
        line += f" | np next {nxt} vs llama.cpp {r['ids'][0] if r['ids'] else None}"
        if ours is not None and ours[n].get("tokens"):
            line += f" atelier {ours[n]['tokens'][0]}"
        print(line)
        if n == 0:
            print("  numpy    ", fmt(ref[:8]))
            print("  llama.cpp", fmt(llc[:8]))
            if at is not None:
                print("  atelier  ", fmt(at[:8]))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
