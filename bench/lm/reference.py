#!/usr/bin/env python3
"""llama.cpp (PyPI llama-cpp-python) as the reference for atelier's language-model engine:
the same GGUF file, the same inputs, and what llama.cpp makes of them.

    bench/.venv/bin/python bench/lm/reference.py info      [-m MODEL]
    bench/.venv/bin/python bench/lm/reference.py tokens    [-m MODEL]
    bench/.venv/bin/python bench/lm/reference.py greedy    [-m MODEL]
    bench/.venv/bin/python bench/lm/reference.py speed     [-m MODEL ...] [--threads 1,2]
    bench/.venv/bin/python bench/lm/reference.py requantize [-m MODEL] OUT.gguf

info: the tokenizer's metadata (not its big arrays), the chat template, and the types and
attributes llama.cpp gives the special tokens.

tokens: 2,000 texts (25 sentences from each of the 75 lingua-sentences languages, code,
edge cases, chat markup) tokenized with `tokenize(text, add_bos=False, special=False)`;
writes bench/.work/lm/tokens.jsonl ({"kind", "text", "ids"} a line) and the small fixture
crates/lm/tests/data/smollm2_tokens.jsonl (--fixture to write it elsewhere, or "-" not
to).

greedy: 50 prompts rendered by the GGUF's own chat template (tokenizer.chat_template with
add_generation_prompt), tokenized with special=True and no BOS, then greedy decoding: the
argmax of the raw logits (lowest id on a tie), no penalty, at most 32 tokens, ending
before an end-of-generation token as atelier does (that token is not in "ids"). Each line
of bench/.work/lm/greedy.jsonl has "prompt" (the rendered text), "prompt_ids", "ids" (the
generated ids), "finish" ("stop": an end-of-generation token came, "length": 32 tokens),
"prompt_logprobs" (null, then log-softmax of prompt token i under the logits at i - 1),
"top2_gap" (per step, logit of the best token minus the second best: one entry per
generated id, plus one for the step that chose the end token when finish is "stop") and
"top2" (per step, the two best ids). Eight of them go to
crates/lm/tests/data/smollm2_greedy.jsonl. One thread by default (--threads): the file
is byte-identical at 1 and 2 threads.

speed: prefill of a 256-token prompt, then 128 greedy decode steps, best of 3, for each
GGUF file and thread count, each configuration in a fresh process (peak RSS from
getrusage there). Prints one JSON object. Any GGUF works: pass atelier's Q8_0
re-quantization (`atelier lm requantize`) as a second -m.

requantize: llama.cpp's own re-quantization of the model to Q8_0 (llama_model_quantize
with allow_requantize; from Q4_1 that is dequantize, then Q8_0), to set beside atelier's.
"""
import argparse
import json
from collections import Counter
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
WORK = os.path.join(ROOT, "bench", ".work", "lm")
MODEL = os.path.join(WORK, "SmolLM2-135M-Instruct.Q4_1.gguf")
LANGS = os.path.join(ROOT, "..", "shared", "data", "langid", "lingua-sentences")
FIXTURES = os.path.join(ROOT, "crates", "lm", "tests", "data")

N_TEXTS = 2000
PER_LANGUAGE = 25
MAX_NEW = 32


def load(path, threads=None, logits_all=True, vocab_only=False):
    from llama_cpp import Llama

    threads = threads or os.cpu_count()
    return Llama(
        model_path=path,
        n_ctx=2048,
        logits_all=logits_all,
        vocab_only=vocab_only,
        verbose=False,
        n_threads=threads,
        n_threads_batch=threads,
    )


def write_jsonl(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------
# info

# llama_token_attr bits (llama.h)
ATTRS = [
    "UNKNOWN", "UNUSED", "NORMAL", "CONTROL", "USER_DEFINED", "BYTE", "NORMALIZED",
    "LSTRIP", "RSTRIP", "SINGLE_WORD",
]
# GGUF tokenizer.ggml.token_type values
GGUF_TYPES = {1: "NORMAL", 2: "UNKNOWN", 3: "CONTROL", 4: "USER_DEFINED", 5: "UNUSED", 6: "BYTE"}


def token_info(llm, t):
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    attr = llama_cpp.llama_vocab_get_attr(vocab, t)
    return {
        "id": t,
        "text": llama_cpp.llama_vocab_get_text(vocab, t).decode("utf-8", "backslashreplace"),
        "attr": [n for i, n in enumerate(ATTRS) if attr & (1 << i)],
        "eog": bool(llama_cpp.llama_vocab_is_eog(vocab, t)),
        "control": bool(llama_cpp.llama_vocab_is_control(vocab, t)),
    }


def gguf_token_types(path, ids):
    """The token_type array as stored in the file (llama-cpp-python does not show arrays)."""
    try:
        from gguf import GGUFReader  # PyPI gguf, llama.cpp's own reader
    except ImportError:
        return None
    r = GGUFReader(path)
    f = r.fields["tokenizer.ggml.token_type"]
    types = [int(f.parts[i][0]) for i in f.data]
    return {
        "ids": {t: GGUF_TYPES.get(types[t], types[t]) for t in ids},
        "counts": {GGUF_TYPES.get(k, k): v for k, v in Counter(types).items()},
    }


def cmd_info(args):
    import llama_cpp

    llm = load(args.model, vocab_only=True)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    meta = {k: v for k, v in sorted(llm.metadata.items()) if k.startswith("tokenizer.")}
    template = meta.pop("tokenizer.chat_template", None)
    special = {
        "bos": llama_cpp.llama_vocab_bos(vocab),
        "eos": llama_cpp.llama_vocab_eos(vocab),
        "eot": llama_cpp.llama_vocab_eot(vocab),
        "pad": llama_cpp.llama_vocab_pad(vocab),
        "n_vocab": llama_cpp.llama_vocab_n_tokens(vocab),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
    }
    n = special["n_vocab"]
    low = list(range(0, 17))
    eog = [t for t in range(n) if llama_cpp.llama_vocab_is_eog(vocab, t)]
    control = [t for t in range(n) if llama_cpp.llama_vocab_is_control(vocab, t)]
    out = {
        "metadata": meta,
        "other_metadata": {k: v for k, v in sorted(llm.metadata.items()) if not k.startswith("tokenizer.")},
        "special": special,
        "eog_ids": eog,
        "control_ids": control,
        "tokens": [token_info(llm, t) for t in low],
        "chat_template": template,
        "rendered_example": render(llm, "Hello"),
        "gguf_token_type": gguf_token_types(args.model, low),
    }
    print(json.dumps(out, ensure_ascii=False, indent=1))


# ---------------------------------------------------------------------------------------
# tokens

CODE = [
    # Python
    'def fib(n):\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nprint(fib(12345 % 97))\n',
    "import math\n\nPI = 3.14159\n\nclass Circle:\n    def __init__(self, r: float) -> None:\n        self.r = r\n\n    def area(self):\n        return PI * self.r ** 2  # not math.pi\n",
    "with open('data.csv') as f:\n    rows = [l.rstrip('\\n').split(',') for l in f]\n\nif __name__ == \"__main__\":\n    print(len(rows), rows[:3])\n",
    "x = {'a': 1, 'b': [1, 2, 3], 'c': None}\ny = [i * i for i in range(10) if i % 2 == 0]\nassert sum(y) == 120, f\"got {sum(y)}\"\n",
    "try:\n    value = int(input('> '))\nexcept ValueError as e:\n    raise SystemExit(f'bad input: {e!r}')\nelse:\n    print(value  +  1)\n",
    "@dataclass(frozen=True)\nclass Point:\n    x: float = 0.0\n    y: float = 0.0\n\n    def __add__(self, o):  return Point(self.x + o.x, self.y + o.y)\n",
    "async def fetch(session, url):\n    async with session.get(url, timeout=30) as r:\n        r.raise_for_status()\n        return await r.json()\n",
    # Rust
    "fn main() {\n    let v: Vec<u32> = (1..=10).map(|x| x * x).collect();\n    println!(\"{:?} {}\", v, v.iter().sum::<u32>());\n}\n",
    "#[derive(Debug, Clone, PartialEq)]\npub struct Token {\n    pub id: u32,\n    pub text: String,\n}\n\nimpl Token {\n    pub fn new(id: u32, text: &str) -> Self {\n        Self { id, text: text.to_owned() }\n    }\n}\n",
    "match x {\n    0 => \"zero\",\n    1..=9 => \"digit\",\n    n if n < 0 => \"negative\",\n    _ => \"big\",\n}\n",
    "pub fn parse(s: &str) -> Result<f64, std::num::ParseFloatError> {\n    s.trim().parse::<f64>()\n}\n\n#[test]\nfn pi() {\n    assert_eq!(parse(\" 3.14159 \").unwrap(), 3.14159);\n}\n",
    "let mut map: HashMap<&str, usize> = HashMap::new();\nfor w in text.split_whitespace() {\n    *map.entry(w).or_insert(0) += 1;\n}\n",
    "impl<'a, T: AsRef<[u8]> + ?Sized> Reader<'a, T> {\n    fn next(&mut self) -> Option<&'a [u8]> { None }\n}\n",
    # JavaScript
    "function debounce(fn, ms = 250) {\n  let t;\n  return (...args) => {\n    clearTimeout(t);\n    t = setTimeout(() => fn(...args), ms);\n  };\n}\n",
    "const total = items\n  .filter((x) => x.price > 0)\n  .reduce((acc, x) => acc + x.price * x.qty, 0);\nconsole.log(`total: ${total.toFixed(2)}`);\n",
    "export default async function handler(req, res) {\n  if (req.method !== 'POST') return res.status(405).end();\n  const { id } = JSON.parse(req.body);\n  res.json({ ok: true, id: id ?? 12345 });\n}\n",
    "document.querySelectorAll('a[href^=\"http\"]').forEach(a => {\n\ta.target = '_blank';\n\ta.rel = 'noopener';\n});\n",
    # shell
    "#!/usr/bin/env bash\nset -euo pipefail\nfor f in *.txt; do\n  wc -l \"$f\"\ndone | sort -n | tail -3\n",
    "if [ -z \"${HOME:-}\" ]; then\n    echo 'no home' >&2; exit 1\nfi\ntar czf backup-$(date +%Y%m%d).tgz ~/docs  &&  echo done\n",
    "find . -name '*.rs' -print0 | xargs -0 grep -n 'TODO' | awk -F: '{print $1}' | uniq -c\n",
    "cat <<'EOF' > config.toml\n[server]\nport = 8080\nworkers    = 4\nEOF\n",
    # other
    "SELECT name, COUNT(*) AS n\nFROM   users\nWHERE  created_at >= '2024-01-01'\nGROUP  BY name\nORDER  BY n DESC\nLIMIT  10;\n",
    '{\n  "name": "atelier",\n  "version": "0.1.0",\n  "ratio": 0.333333,\n  "tags": ["a", "b"],\n  "nested": {"deep": [1, 2, [3, 4]]}\n}\n',
    "<div class=\"card\">\n  <h1>Title &amp; more</h1>\n  <p>Price: $12,345.67</p>\n</div>\n",
    "#include <stdio.h>\n\nint main(void) {\n\tfor (int i = 0; i < 10; ++i) {\n\t\tprintf(\"%d\\n\", i);\n\t}\n\treturn 0;\n}\n",
]


def spaces_to_tabs(s):
    out = []
    for line in s.split("\n"):
        n = len(line) - len(line.lstrip(" "))
        out.append("\t" * (n // 4) + " " * (n % 4) + line[n:])
    return "\n".join(out)


EDGE = [
    "",
    " ",
    "  ",
    "\n",
    "\n\n\n",
    "\t",
    "\r\n",
    "a" + " " * 17 + "b",
    "   leading spaces and trailing spaces   ",
    "1234567890 12345 3.14159 -0.5e-10 1,000,000 2024-12-04 07:30",
    "I'm sure it's fine, DON'T worry, you'll see. We've, they'd, she's, YOU'RE, I'LL, 'quoted'",
    "Ünïcödé: café naïve façade Ærøskøbing Straße İstanbul ǅ ﬁ ß",
    "e\u0301 vs \u00e9 (combining acute vs precomposed)",
    "👩‍👩‍👧‍👦 🇫🇷 👍🏽 ❤️ 🤖🤖🤖 ✅",
    "mixed\u00a0no-break\u2003em-space\u200bzero-width\u3000ideographic",
    "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww",
    "!!!???...---___===+++***~~~```",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|><|im_end|><|endoftext|>",
    "<|im_start |> <| im_end|> <im_start> |im_end|",
    "<repo_name>atelier<file_sep>src/main.rs<filename>x.py<gh_stars>100",
    "The year 1999, then 2000; 42nd street, 3rd place, 100%, $5, €10, ¥1000.",
]

CHAT_TURNS = [
    ("user", "Hello"),
    ("user", "What's 12345 + 67890?"),
    ("assistant", "12345 + 67890 = 80235."),
    ("system", "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
    ("user", "Translate to French: I'm happy 😀"),
    ("assistant", "Je suis heureux 😀"),
    ("user", "Write a haiku about rain.\n\nMake it sad."),
    ("assistant", "Grey rain on the glass,\nthe kettle cools by itself,\nno one calls my name."),
    ("user", "DON'T shout. It's 3.14159, not 3.14!"),
    ("user", "  leading spaces, trailing spaces  "),
    ("user", "List:\n- one\n- two\n\n\n- three"),
    ("assistant", "Sure! Here's the code:\n```python\nprint('hi')\n```"),
    ("user", "日本語で答えてください。東京の人口は?"),
    ("assistant", "東京の人口は約1400万人です。"),
    ("user", "¿Dónde está la biblioteca? 📚"),
    ("user", "Привет! Как дела?"),
    ("user", "ما هي عاصمة مصر؟"),
    ("user", "नमस्ते, आप कैसे हैं?"),
    ("user", "สวัสดีครับ วันนี้อากาศดีไหม"),
    ("assistant", "I'm not sure; it's hard to say.\r\nLet me think."),
    ("user", "tab\tseparated\tvalues\t1\t2\t3"),
]


def chat_texts(n):
    """n chat-marked-up texts: single turns, conversations, with and without the trailing
    assistant prompt, with odd whitespace around the markup."""
    out = []
    turns = [f"<|im_start|>{r}\n{c}<|im_end|>\n" for r, c in CHAT_TURNS]
    for t in turns:
        out.append(t)
    for i in range(len(turns)):
        a, b, c = turns[i], turns[(i + 3) % len(turns)], turns[(i + 7) % len(turns)]
        out.append(a + b + c + "<|im_start|>assistant\n")
    for i, (r, c) in enumerate(CHAT_TURNS):
        v = [
            f"  <|im_start|>{r}\n{c}<|im_end|>  \n\n\n",
            f"<|im_start|>{r}\r\n{c}<|im_end|>\r\n<|im_start|>assistant\r\n",
            f"<|im_start|> {r}\n\n{c} <|im_end|><|endoftext|>",
            f"text before<|im_start|>{r}\n{c}<|im_end|>text after 12345",
        ][i % 4]
        out.append(v)
    i = 0
    while len(out) < n:  # longer conversations
        k = 2 + i % 5
        out.append("".join(turns[(i * 5 + j) % len(turns)] for j in range(k)))
        i += 1
    return out[:n]


def read_lines(path):
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n")


def build_texts():
    """[(kind, text)]: 25 sentences of each language spread over its file, code (each
    snippet as written, with tab indentation, with CRLF), edge cases, chat markup to
    reach N_TEXTS."""
    rows = []
    for name in sorted(os.listdir(LANGS)):
        if not name.endswith(".txt"):
            continue
        lines = read_lines(os.path.join(LANGS, name))
        for i in range(PER_LANGUAGE):
            rows.append(("lang:" + name[:-4], lines[i * len(lines) // PER_LANGUAGE]))
    for s in CODE:
        rows.append(("code", s))
    for s in CODE[:17]:
        t = spaces_to_tabs(s)
        rows.append(("code", t if t != s else s.replace("\n", "\n\n", 1)))
    for s in CODE[::3]:
        rows.append(("code", s.replace("\n", "\r\n")))
    for s in EDGE:
        rows.append(("edge", s))
    for s in chat_texts(N_TEXTS - len(rows)):
        rows.append(("chat", s))
    assert len(rows) == N_TEXTS, len(rows)
    return rows


# Languages in the Rust fixture: most scripts, and a few Latin-script ones.
FIXTURE_LANGS = [
    "ar", "be", "bn", "el", "en", "fa", "gu", "he", "hi", "hy", "ja", "ka", "ko", "pa",
    "ru", "ta", "te", "th", "ur", "zh", "de", "fr", "vi", "yo",
]


def fixture_rows(rows):
    out = []
    for lang in FIXTURE_LANGS:
        cands = [r for r in rows if r["kind"] == "lang:" + lang and len(r["text"]) < 300]
        if cands:  # the sentence nearest 120 characters
            out.append(min(cands, key=lambda r: abs(len(r["text"]) - 120)))
    code = [r for r in rows if r["kind"] == "code" and len(r["text"]) < 300]
    out += [r for r in code if "\t" not in r["text"] and "\r" not in r["text"]][::3][:4]
    out += [r for r in code if "\t" in r["text"]][:2] + [r for r in code if "\r" in r["text"]][:2]
    out += [r for r in rows if r["kind"] == "edge"]
    out += [r for r in rows if r["kind"] == "chat" and len(r["text"]) < 300][::6][:8]
    return out


def cmd_tokens(args):
    llm = load(args.model, vocab_only=True)
    rows = []
    for kind, text in build_texts():
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        rows.append({"kind": kind, "text": text, "ids": ids})
    path = os.path.join(WORK, "tokens.jsonl")
    write_jsonl(path, rows)
    print(f"{len(rows)} texts, {sum(len(r['ids']) for r in rows)} tokens -> {path}")
    if args.fixture != "-":
        fix = fixture_rows(rows)
        write_jsonl(args.fixture, fix)
        print(f"{len(fix)} texts -> {args.fixture}")


# ---------------------------------------------------------------------------------------
# greedy

PROMPTS = [
    "What is the capital of France?",
    "Explain photosynthesis in one sentence.",
    "Write a haiku about the sea.",
    "What is 17 times 23?",
    "Give me three tips for sleeping better.",
    "Write a Python function that reverses a string.",
    "What does the Rust borrow checker do?",
    "Translate to Spanish: The weather is nice today.",
    "Quelle est la plus haute montagne d'Europe ?",
    "Wie spät ist es in Tokio, wenn es in Berlin 12 Uhr ist?",
    "¿Cuál es el río más largo del mundo?",
    "日本の首都はどこですか？",
    "用一句话介绍一下长城。",
    "Как сварить борщ?",
    "ما هو أكبر كوكب في المجموعة الشمسية؟",
    "Summarize: The quick brown fox jumps over the lazy dog. The dog did not react.",
    "Write a SQL query that counts users per country.",
    "What is the difference between TCP and UDP?",
    "Tell me a joke about programmers.",
    "Hi!",
    "Who wrote Pride and Prejudice?",
    "List the planets of the solar system.",
    "How do I make a cup of tea?",
    "Fix this code: for i in range(10) print(i)",
    "What's the boiling point of water in Fahrenheit?",
    "Write a short email asking for a day off.",
    "Explain recursion to a five-year-old.",
    "What is a GGUF file?",
    "Convert 3.14159 to a fraction.",
    "Name three famous painters.",
    "Is a tomato a fruit or a vegetable?",
    "Write a bash one-liner that counts lines in all .txt files.",
    "What causes the seasons on Earth?",
    "Describe the color blue to someone who cannot see.",
    "I'm feeling sad today. Any advice?",
    "DON'T use capital letters in your answer: what is your name?",
    "Continue the sequence: 2, 4, 8, 16,",
    "What is machine learning?",
    "Write a JavaScript function to check if a number is prime.",
    "Why is the sky blue?",
    "Give me a recipe for pancakes.",
    "What is the square root of 144?",
    "Write a limerick about a cat.",
    "How many days are there in a leap year?",
    "What is the largest ocean?",
    "Explain what an API is.",
    "Rewrite more politely: Give me the report now.",
    "What are the primary colors?",
    "Write a for loop in C that prints 1 to 5.",
    "Thank you!",
]

# Which of the 50 go to the Rust fixture: varied (science, arithmetic, French, German,
# Arabic, a greeting, JavaScript, a long answer; four end with the end token), and each
# with llama.cpp's top-2 logit gap at least 0.065 at every step (with the Q4_1 file), so
# that an engine rounding differently still picks the same tokens.
FIXTURE_GREEDY = [1, 3, 8, 9, 14, 19, 32, 38]


def render(llm, prompt):
    """The GGUF's chat template as transformers renders it (jinja2, trim_blocks,
    lstrip_blocks), one user message, add_generation_prompt."""
    import jinja2
    import jinja2.ext
    import jinja2.sandbox

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    env.globals["raise_exception"] = raise_exception
    tmpl = env.from_string(llm.metadata["tokenizer.chat_template"])
    vocab_text = lambda t: llm._model.token_get_text(t) if t >= 0 else ""  # noqa: E731
    return tmpl.render(
        messages=[{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        bos_token=vocab_text(llm.token_bos()),
        eos_token=vocab_text(llm.token_eos()),
    )


def log_softmax(row):
    row = row.astype(np.float64)
    m = row.max()
    return row - m - np.log(np.exp(row - m).sum())


def greedy_one(llm, prompt_ids, max_new):
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    llm.reset()
    llm.eval(prompt_ids)
    scores = llm.scores
    plp = [None]
    for i in range(1, len(prompt_ids)):
        plp.append(round(float(log_softmax(scores[i - 1])[prompt_ids[i]]), 6))
    ids, gaps, top2 = [], [], []
    finish = "length"
    row = scores[len(prompt_ids) - 1]
    while len(ids) < max_new:
        a, b = np.argsort(-row, kind="stable")[:2]
        gaps.append(round(float(row[a]) - float(row[b]), 6))
        top2.append([int(a), int(b)])
        tok = int(a)
        if llama_cpp.llama_vocab_is_eog(vocab, tok):
            finish = "stop"
            break
        ids.append(tok)
        if len(ids) == max_new:
            break
        llm.eval([tok])
        row = llm.scores[llm.n_tokens - 1]
    return ids, finish, plp, gaps, top2


def cmd_greedy(args):
    llm = load(args.model, threads=args.threads)
    rows = []
    for p in PROMPTS:
        text = render(llm, p)
        pids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        ids, finish, plp, gaps, top2 = greedy_one(llm, pids, args.max_tokens)
        rows.append({
            "prompt": text,
            "prompt_ids": pids,
            "ids": ids,
            "text": llm.detokenize(ids).decode("utf-8", "replace"),
            "finish": finish,
            "prompt_logprobs": plp,
            "top2_gap": gaps,
            "top2": top2,
        })
    path = args.out
    write_jsonl(path, rows)
    stops = sum(r["finish"] == "stop" for r in rows)
    small = sum(min(r["top2_gap"]) < 0.01 for r in rows)
    print(f"{len(rows)} prompts, {sum(len(r['ids']) for r in rows)} generated tokens, "
          f"{stops} ended by an end token, {small} with a top-2 gap < 0.01 somewhere -> {path}")
    if args.fixture != "-":
        write_jsonl(args.fixture, [rows[i] for i in FIXTURE_GREEDY])
        print(f"{len(FIXTURE_GREEDY)} prompts -> {args.fixture}")


# ---------------------------------------------------------------------------------------
# speed


def speed_prompt(llm, n):
    """n token ids of English text (lingua-sentences en), no BOS."""
    ids = []
    for line in read_lines(os.path.join(LANGS, "en.txt")):
        ids += llm.tokenize((line + "\n").encode("utf-8"), add_bos=False, special=False)
        if len(ids) >= n:
            return ids[:n]
    raise SystemExit("not enough English text for the speed prompt")


def speed_one(model, threads, prompt_len, decode, repeats):
    """One configuration, in this process: best prefill and decode rates of `repeats`."""
    import llama_cpp

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    llm = load(model, threads=threads, logits_all=False)
    load_s = time.perf_counter() - t
    n_vocab = llm.n_vocab()
    prompt = speed_prompt(llm, prompt_len)
    prefill, steps = [], []
    for _ in range(repeats):
        llm.reset()
        t = time.perf_counter()
        llm.eval(prompt)
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(n_vocab,))
        tok = int(np.argmax(logits))
        prefill.append(time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(decode):  # greedy, end tokens ignored: a fixed number of steps
            llm.eval([tok])
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(n_vocab,))
            tok = int(np.argmax(logits))
        steps.append(time.perf_counter() - t)
    return {
        "model": os.path.basename(model),
        "model_bytes": os.path.getsize(model),
        "threads": threads,
        "prompt_tokens": prompt_len,
        "decode_tokens": decode,
        "load_s": round(load_s, 4),
        "prefill_tok_s": round(prompt_len / min(prefill), 2),
        "decode_tok_s": round(decode / min(steps), 2),
        "prefill_s_all": [round(x, 4) for x in prefill],
        "decode_s_all": [round(x, 4) for x in steps],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python_rss_mib": round(base_rss / 1024, 1),
    }


def cmd_speed(args):
    if args.one:
        print(json.dumps(speed_one(args.model[0], args.threads_one, args.prompt_tokens,
                                   args.decode_tokens, args.repeats)))
        return
    import llama_cpp

    runs = []
    for model in args.model:
        for t in [int(x) for x in args.threads.split(",")]:
            cmd = [sys.executable, os.path.abspath(__file__), "speed", "--one", "-m", model,
                   "--threads-one", str(t), "--prompt-tokens", str(args.prompt_tokens),
                   "--decode-tokens", str(args.decode_tokens), "--repeats", str(args.repeats)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                raise SystemExit(f"speed run failed: {' '.join(cmd)}")
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = runs[-1]
            print(f"  {r['model']} threads={t}: prefill {r['prefill_tok_s']} tok/s, "
                  f"decode {r['decode_tok_s']} tok/s, peak RSS {r['peak_rss_mib']} MiB", file=sys.stderr)
    print(json.dumps({
        "engine": f"llama.cpp via llama-cpp-python {llama_cpp.__version__}",
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "cpus": os.cpu_count(),
        "best_of": args.repeats,
        "runs": runs,
    }, indent=1))


# ---------------------------------------------------------------------------------------
# requantize


def cmd_requantize(args):
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = args.threads or os.cpu_count()
    rc = llama_cpp.llama_model_quantize(args.model.encode(), args.out.encode(), params)
    if rc != 0:
        raise SystemExit(f"llama_model_quantize failed: {rc}")
    print(f"{args.model} -> {args.out} ({os.path.getsize(args.out)} bytes)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("info")
    p.add_argument("-m", "--model", default=MODEL)

    p = sub.add_parser("tokens")
    p.add_argument("-m", "--model", default=MODEL)
    p.add_argument("--fixture", default=os.path.join(FIXTURES, "smollm2_tokens.jsonl"))

    p = sub.add_parser("greedy")
    p.add_argument("-m", "--model", default=MODEL)
    p.add_argument("--threads", type=int, default=1,
                   help="threads (1 by default: the answers do not need speed, and spinning threads on a busy machine are slow)")
    p.add_argument("--max-tokens", type=int, default=MAX_NEW)
    p.add_argument("--out", default=os.path.join(WORK, "greedy.jsonl"))
    p.add_argument("--fixture", default=os.path.join(FIXTURES, "smollm2_greedy.jsonl"))

    p = sub.add_parser("speed")
    p.add_argument("-m", "--model", action="append", help="a GGUF file; repeat for more (default: the Q4_1 file)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    p.add_argument("--prompt-tokens", type=int, default=256)
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--threads-one", type=int, help=argparse.SUPPRESS)

    p = sub.add_parser("requantize")
    p.add_argument("-m", "--model", default=MODEL)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("out")

    args = ap.parse_args()
    if args.cmd == "speed" and not args.model:
        args.model = [MODEL]
    for m in args.model if isinstance(args.model, list) else [args.model]:
        if not os.path.exists(m):
            raise SystemExit(f"no model at {m} (bench/lm/run.sh fetches it)")
    {"info": cmd_info, "tokens": cmd_tokens, "greedy": cmd_greedy, "speed": cmd_speed,
     "requantize": cmd_requantize}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
