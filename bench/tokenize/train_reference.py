"""Train a byte-level BPE tokenizer (GPT-2 / SmolLM2 style) with HF tokenizers: the
reference for `atelier tokenizer train`.

  train_reference.py INPUT.jsonl... --vocab-size N [--min-frequency M] [--special TOK]...
                     -o tokenizer.json [--json]

The texts are the "text" fields of the JSONL lines, in file order (lines without text
are skipped). Settings, all of them explicit:
  model          BPE(unk_token=None, dropout=None, continuing_subword_prefix=None,
                     end_of_word_suffix=None, fuse_unk=False, byte_fallback=False)
  normalizer     none
  pre_tokenizer  ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
                 (GPT-2's split regex, then bytes -> the 256 printable stand-in chars)
  decoder        ByteLevel()
  post_processor ByteLevel(trim_offsets=False) like GPT-2's tokenizer.json (offsets only;
                 it adds no tokens). --post-processor none leaves it unset.
  trainer        BpeTrainer(vocab_size=N, min_frequency=M, special_tokens=[TOK...],
                 initial_alphabet=ByteLevel.alphabet(), limit_alphabet=None,
                 max_token_length=None, show_progress=False)

What the trainer does (tokenizers 0.22, src/models/bpe/trainer.rs), for comparison:
  ids 0..k-1   the special tokens in the order given (duplicates once)
  then         the alphabet: the chars of all pre-tokenized words plus the 256 ByteLevel
               chars, sorted by code point (so always exactly the 256 byte chars here)
  then         merges: words are counted once per occurrence (HashMap word -> count);
               pair counts = sum of word counts over adjacent symbol pairs; the next
               merge is the pair with the highest count, ties to the smallest
               (left id, right id); stop when the vocabulary (specials included) has
               vocab_size entries, or when the best count < min_frequency (a count equal
               to min_frequency still merges; min_frequency 0 and 1 behave the same).
               The new token is left+right; if that string is already in the vocabulary
               (another pair made it) the merge is recorded with the existing id and the
               vocabulary does not grow. Within a word, occurrences are merged left to
               right without overlap ("aaa" with (a,a) -> "aa","a").
Prints a JSON line with the wall time, vocabulary size and merge count.
"""

import argparse
import json
import sys
import time
from pathlib import Path


def texts(paths):
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    t = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(t, str) and t:
                    yield t


def build(vocab_size, min_frequency, special, post_processor="bytelevel"):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    # unk_token, dropout, continuing_subword_prefix, end_of_word_suffix: left unset (None)
    tok = Tokenizer(models.BPE(fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    if post_processor == "bytelevel":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,  # limit_alphabet, max_token_length: left unset (None)
    )
    return tok, trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", type=Path)
    ap.add_argument("--vocab-size", type=int, required=True)
    ap.add_argument("--min-frequency", type=int, default=0)
    ap.add_argument("--special", action="append", default=[], help="special token (repeatable, ids in order)")
    ap.add_argument("--post-processor", choices=["bytelevel", "none"], default="bytelevel")
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()

    import tokenizers

    tok, trainer = build(args.vocab_size, args.min_frequency, args.special, args.post_processor)
    t0 = time.perf_counter()
    tok.train_from_iterator(texts(args.inputs), trainer=trainer)
    dt = time.perf_counter() - t0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tok.save(str(args.out), pretty=True)
    model = json.loads(args.out.read_text(encoding="utf-8"))["model"]
    print(
        json.dumps(
            {
                "tool": "tokenizers",
                "version": tokenizers.__version__,
                "train_s": round(dt, 3),
                "vocab_size": tok.get_vocab_size(),
                "merges": len(model["merges"]),
                "out": str(args.out),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
