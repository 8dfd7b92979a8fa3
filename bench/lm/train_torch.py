#!/usr/bin/env python3
"""PyTorch's training speed on a llama model: the peer for atelier's trainer.

    python3 bench/lm/train_torch.py (--model DIR | --scratch CONFIG.json) --device cpu|cuda \
        [--threads N] --batch B --context T --steps S --warmup W [--bf16] \
        [--lora-rank R --lora-alpha A] [--peak-tflops 989] [--seed 0] --out result.json

Each step: random token ids [B, T + 1] (speed only: inputs the first T, targets the next
ones), mean next-token cross entropy from the logits, backward, clipping to norm 1.0 and
AdamW (lr 1e-4, betas 0.9/0.95, weight decay 0.1 on parameters of 2 or more dimensions).
W warm-up steps, then S timed ones. --model loads a Hugging Face directory, --scratch
builds the model from a config.json with random weights. --bf16 (cuda) is the usual mixed
precision; --lora-rank trains peft LoRA adapters on every projection instead of the model.

Writes (and prints) one JSON object: tokens_per_s = B * T * S / seconds; peak_memory_bytes
is torch.cuda.max_memory_allocated() on cuda and the process's peak RSS on cpu; mfu (cuda)
is 6 * params * tokens_per_s against --peak-tflops (989: H100/H200 SXM dense bf16).
"""
import argparse
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def load_model(args):
    if args.model:
        return LlamaForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="sdpa")
    torch.manual_seed(args.seed)
    config = LlamaConfig.from_json_file(args.scratch)
    return AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="sdpa")


def add_lora(model, rank, alpha):
    try:
        import peft
    except ImportError:
        sys.exit("--lora-rank needs the peft package, which is not installed")
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, target_modules=LORA_TARGETS, lora_dropout=0.0)
    return peft.get_peft_model(model, config)


def make_optimizer(params, cuda):
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": 0.1},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]  # LoRA trains matrices only
    kind = {"fused": True} if cuda else {"foreach": True}
    return torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.95), **kind)


def train_step(model, optimizer, params, tokens, device, bf16):
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    # Mixed precision: the weights, gradients and optimizer state stay float32 (the master
    # copy); autocast runs the matrix products in bf16, and the cross entropy in float32.
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=inputs, use_cache=False).logits
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.detach()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="Hugging Face model directory (config.json + model.safetensors)")
    source.add_argument("--scratch", help="a llama config.json: random weights")
    ap.add_argument("--device", choices=["cpu", "cuda"], required=True)
    ap.add_argument("--threads", type=int, default=1, help="PyTorch's threads on cpu")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--context", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (cuda only)")
    ap.add_argument("--lora-rank", type=int)
    ap.add_argument("--lora-alpha", type=float)
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if (args.lora_rank is None) != (args.lora_alpha is None):
        ap.error("--lora-rank and --lora-alpha go together")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be at least 1 and --warmup at least 0")
    if args.bf16 and args.device != "cuda":
        ap.error("--bf16 is for --device cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: PyTorch sees no CUDA device")

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if not cuda:
        torch.set_num_threads(args.threads)

    model = load_model(args)
    vocab = model.config.vocab_size
    if args.lora_rank is not None:
        model = add_lora(model, args.lora_rank, args.lora_alpha)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, cuda)

    # All steps' tokens up front, on the device, so that no copy is timed.
    g = torch.Generator().manual_seed(args.seed)
    shape = (args.warmup + args.steps, args.batch, args.context + 1)
    tokens = torch.randint(0, vocab, shape, generator=g).to(device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for i in range(args.warmup):
        train_step(model, optimizer, params, tokens[i], device, args.bf16)
    sync()
    start = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        loss = train_step(model, optimizer, params, tokens[i], device, args.bf16)
    sync()
    seconds = time.perf_counter() - start

    n_params = sum(p.numel() for p in model.parameters())
    tokens_per_s = args.batch * args.context * args.steps / seconds
    if cuda:
        peak_memory = torch.cuda.max_memory_allocated()
        # The usual 6N estimate (no attention term); with LoRA it overstates the work, since
        # the frozen weights get no gradient of their own.
        mfu = 6 * n_params * tokens_per_s / (args.peak_tflops * 1e12)
    else:
        peak_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        mfu = None
    lora = None if args.lora_rank is None else {"rank": args.lora_rank, "alpha": args.lora_alpha}
    result = {
        "engine": "pytorch",
        "model": args.model or args.scratch,
        "device": args.device,
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "context": args.context,
        "steps": args.steps,
        "warmup": args.warmup,
        "bf16": args.bf16,
        "lora": lora,
        "tokens_per_s": tokens_per_s,
        "seconds": seconds,
        "params": n_params,
        "trainable_params": sum(p.numel() for p in params),
        "peak_memory_bytes": peak_memory,
        "final_loss": loss.item(),
        "mfu": mfu,
        "peak_tflops": args.peak_tflops if cuda else None,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
