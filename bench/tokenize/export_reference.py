"""Build a tokenizer.json from a GGUF model's tokenizer metadata with the `gguf` and
`tokenizers` packages: the reference for `atelier tokenizer export` on byte-level BPE
("gpt2") models such as SmolLM2.

  export_reference.py MODEL.gguf -o tokenizer.json

  vocab          tokenizer.ggml.tokens, id = position
  merges         tokenizer.ggml.merges ("a b" strings), in order
  added tokens   the tokens of type 3 (control) and 4 (user-defined), special = type 3
  pre_tokenizer  by tokenizer.ggml.pre, as llama.cpp splits (src/llama-vocab.cpp):
                   smollm, starcoder, refact, ...  Sequence[Digits(individual_digits=True),
                                                    ByteLevel(add_prefix_space=False)]
                   gpt2 and the rest               ByteLevel(add_prefix_space=False)
  decoder        ByteLevel; post_processor ByteLevel(trim_offsets=False); no normalizer
These are the settings of SmolLM2's own tokenizer.json on the Hub (StarCoder's scheme).
Other pre-tokenizer names exit with an error rather than guess.
Prints a JSON line: vocab size, merges, added tokens, bos/eos ids and tokens.
"""

import argparse
import json
import sys
from pathlib import Path

DIGITS_THEN_GPT2 = {"smollm", "starcoder", "refact", "codeshell", "smaug-bpe"}
GPT2 = {"gpt2", "gpt-2", "default", None}


def read_meta(path: Path):
    from gguf import GGUFReader, GGUFValueType

    r = GGUFReader(str(path))

    def val(f):
        if f.types[0] == GGUFValueType.ARRAY:
            if f.types[1] == GGUFValueType.STRING:
                return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
            return [f.parts[i].tolist()[0] for i in f.data]
        if f.types[0] == GGUFValueType.STRING:
            return bytes(f.parts[f.data[0]]).decode("utf-8")
        return f.parts[f.data[0]].tolist()[0]

    return {k: val(f) for k, f in r.fields.items() if k.startswith("tokenizer.ggml.")}


def build(meta):
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    if meta.get("tokenizer.ggml.model") != "gpt2":
        sys.exit(f"export_reference.py: tokenizer.ggml.model {meta.get('tokenizer.ggml.model')!r}, only 'gpt2' (byte-level BPE)")
    pre = meta.get("tokenizer.ggml.pre")
    tokens = meta["tokenizer.ggml.tokens"]
    types = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    merges = [tuple(m.split(" ", 1)) for m in meta.get("tokenizer.ggml.merges", [])]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if pre in DIGITS_THEN_GPT2:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in GPT2:
        tok.pre_tokenizer = byte_level
    else:
        sys.exit(f"export_reference.py: pre-tokenizer {pre!r} not known here")
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    added = [AddedToken(tokens[i], special=types[i] == 3, normalized=False) for i in range(len(tokens)) if types[i] in (3, 4)]
    tok.add_tokens([a for a in added if not a.special])
    tok.add_special_tokens([a for a in added if a.special])
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    meta = read_meta(args.model)
    tok = build(meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out), pretty=True)
    tokens = meta["tokenizer.ggml.tokens"]

    def name(key):
        i = meta.get(key)
        return None if i is None else {"id": i, "token": tokens[i]}

    print(
        json.dumps(
            {
                "out": str(args.out),
                "pre": meta.get("tokenizer.ggml.pre"),
                "vocab_size": tok.get_vocab_size(),
                "merges": len(meta.get("tokenizer.ggml.merges", [])),
                "added_tokens": len(json.loads(args.out.read_text())["added_tokens"]),
                "bos": name("tokenizer.ggml.bos_token_id"),
                "eos": name("tokenizer.ggml.eos_token_id"),
                "add_bos_token": meta.get("tokenizer.ggml.add_bos_token"),
            }
        )
    )


if __name__ == "__main__":
    main()
