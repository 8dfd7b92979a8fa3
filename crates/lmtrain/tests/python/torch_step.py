#!/usr/bin/env python3
"""One training step of a tiny llama in PyTorch float32 on the CPU: the fixture that
lmtrain's loss, gradients, clipping and AdamW step are checked against.

    python3 crates/lmtrain/tests/python/torch_step.py --out crates/lmtrain/tests/data/torch_step [--seed 0]

Writes config.json and model.safetensors (a Hugging Face model directory, the weights
before the step), batch.json, settings.json, expected.safetensors and README.md into
--out, and prints a one-line JSON summary.
"""
import argparse
import json
import os

import safetensors.torch
import torch
import torch.nn.functional as F
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", ".."))

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "vocab_size": 96,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}
SETTINGS = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "weight_decay": 0.1, "clip": 0.5}
BATCH, LENGTH, MASKED_PREFIX = 2, 16, 5


def hf_names(layers):
    """Hugging Face's parameter names for CONFIG (tied embedding: no lm_head.weight)."""
    names = ["model.embed_tokens.weight", "model.norm.weight"]
    for i in range(layers):
        p = f"model.layers.{i}."
        names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        names += [f"{p}self_attn.{x}_proj.weight" for x in "qkvo"]
        names += [f"{p}mlp.{x}_proj.weight" for x in ("gate", "up", "down")]
    return names


def write_config(out):
    """config.json as LlamaConfig.save_pretrained writes it, plus any key of CONFIG it leaves
    out: transformers 5 nests rope_theta in rope_parameters and names the dtype "dtype",
    while other readers (candle's) look for the classic top-level keys."""
    LlamaConfig(**{k: v for k, v in CONFIG.items() if k != "model_type"}).save_pretrained(out)
    path = os.path.join(out, "config.json")
    with open(path) as f:
        saved = json.load(f)
    saved.update({k: v for k, v in CONFIG.items() if k not in saved})
    with open(path, "w") as f:
        json.dump(saved, f, indent=2, sort_keys=True)
        f.write("\n")


def write_weights(out, seed):
    """HF's initialisation under `seed`, then RMSNorm weights 1 + 0.1 * randn so that the
    norms' scales are not all 1; saved under HF's own parameter names."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig.from_pretrained(out))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape))
    weights = {name: p.detach().clone().contiguous() for name, p in model.named_parameters()}
    assert sorted(weights) == sorted(hf_names(CONFIG["num_hidden_layers"])), sorted(weights)
    safetensors.torch.save_file(weights, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})


def make_batch(seed):
    """Random ids in [0, vocab): inputs are the first LENGTH of LENGTH + 1 ids a row, targets
    the next ones; row 1 masks its first MASKED_PREFIX positions, as a prompt would be."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, LENGTH + 1), generator=g)
    mask = torch.ones(BATCH, LENGTH, dtype=torch.int64)
    mask[1, :MASKED_PREFIX] = 0
    return ids[:, :-1], ids[:, 1:], mask


def train_step(model, inputs, targets, mask):
    """The masked mean loss, the gradients before clipping, their total norm, then clipping
    and one AdamW step (weight decay on the matrices only)."""
    logits = model(input_ids=inputs).logits
    nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
    m = mask.to(nll.dtype)
    loss = (nll * m).sum() / m.sum()
    loss.backward()

    named = list(model.named_parameters())
    grads = {name: p.grad.detach().clone() for name, p in named}
    params = [p for _, p in named]
    grad_norm = torch.nn.utils.clip_grad_norm_(params, SETTINGS["clip"])
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": SETTINGS["weight_decay"]},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=SETTINGS["lr"],
        betas=(SETTINGS["beta1"], SETTINGS["beta2"]),
        eps=SETTINGS["eps"],
        foreach=False,
    )
    optimizer.step()

    expected = {"loss": loss.detach().reshape(()), "grad_norm": grad_norm.detach().reshape(())}
    expected.update({"grad." + name: g for name, g in grads.items()})
    expected.update({"param." + name: p.detach().clone() for name, p in named})
    return expected


def write_readme(out, seed, loss, grad_norm):
    shown = os.path.relpath(os.path.abspath(out), ROOT)
    if shown.startswith(".."):
        shown = out
    text = f"""# torch_step: one training step of a tiny llama in PyTorch

Made by `python3 crates/lmtrain/tests/python/torch_step.py --out {shown} --seed {seed}`
with PyTorch {torch.__version__} and transformers {transformers.__version__}, on the CPU in float32
throughout (eager attention, `torch.use_deterministic_algorithms(True)`).

- `config.json`, `model.safetensors`: a Hugging Face llama directory, the weights before
  the step (HF's init, RMSNorm weights `1 + 0.1 * randn`); the embedding is tied, so there
  is no `lm_head.weight`.
- `batch.json`: `inputs`, `targets` (the next tokens) and `mask` ([{BATCH}, {LENGTH}]; row 1
  masks its first {MASKED_PREFIX} positions).
- `settings.json`: AdamW and clipping settings.
- `expected.safetensors`: `loss` = sum(mask * nll) / sum(mask) ({loss:.6f}); `grad_norm`, the
  total L2 norm of the gradients before clipping ({grad_norm:.6f}); `grad.<name>`, each
  raw gradient before clipping; `param.<name>`, each parameter after
  `clip_grad_norm_(params, clip)` and one `torch.optim.AdamW` step (`foreach=False`;
  weight decay on parameters of 2 or more dimensions, none on the norms).
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    write_config(args.out)
    write_weights(args.out, args.seed)
    inputs, targets, mask = make_batch(args.seed)
    with open(os.path.join(args.out, "batch.json"), "w") as f:
        json.dump({"inputs": inputs.tolist(), "targets": targets.tolist(), "mask": mask.tolist()}, f)
        f.write("\n")
    with open(os.path.join(args.out, "settings.json"), "w") as f:
        json.dump(SETTINGS, f)
        f.write("\n")

    # Train the model as Hugging Face loads it from the directory just written.
    model, info = LlamaForCausalLM.from_pretrained(
        args.out, dtype=torch.float32, attn_implementation="eager", output_loading_info=True
    )
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert model.lm_head.weight is model.model.embed_tokens.weight
    model.train()
    expected = train_step(model, inputs, targets, mask)
    safetensors.torch.save_file(expected, os.path.join(args.out, "expected.safetensors"))

    loss, grad_norm = expected["loss"].item(), expected["grad_norm"].item()
    write_readme(args.out, args.seed, loss, grad_norm)
    print(json.dumps({"loss": loss, "grad_norm": grad_norm, "torch": torch.__version__,
                      "transformers": transformers.__version__}))


if __name__ == "__main__":
    main()
