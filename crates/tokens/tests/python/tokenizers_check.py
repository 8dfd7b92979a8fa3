"""Python `tokenizers`, the reference atelier's token shards are checked against.

    tokenizers_check.py encode TOKENIZER.json TEXTS.jsonl OUT.jsonl
        one {"ids": [...]} line per input line: the text encoded without special tokens
    tokenizers_check.py train TEXTS.jsonl VOCAB MIN_FREQUENCY OUT.json [SPECIAL...]
        a byte-level BPE trained as `atelier tokenizer train` documents it
"""
import json
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers


def texts(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)["text"]


def encode(tokenizer_path, texts_path, out_path):
    tokenizer = Tokenizer.from_file(tokenizer_path)
    with open(out_path, "w") as out:
        for text in texts(texts_path):
            ids = tokenizer.encode(text, add_special_tokens=False).ids
            out.write(json.dumps({"ids": ids}) + "\n")


def train(texts_path, vocab, min_frequency, out_path, special):
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        min_frequency=min_frequency,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts(texts_path), trainer=trainer)
    tokenizer.save(out_path)


if __name__ == "__main__":
    if sys.argv[1] == "encode":
        encode(*sys.argv[2:5])
    elif sys.argv[1] == "train":
        train(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6:])
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
