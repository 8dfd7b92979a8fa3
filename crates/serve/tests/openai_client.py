"""The real `openai` Python client against `atelier serve` serving a language model.

    python3 openai_client.py BASE_URL MODEL      (BASE_URL like http://127.0.0.1:8080)

Run by the Rust test tests/serve/openai.rs. Each check prints one line "ok: ..." or
raises with what was wrong, so any failure exits non-zero. Generations are short (CI
runs this on 2 cores).
"""

import re
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import openai
from openai import OpenAI

BASE, MODEL = sys.argv[1].rstrip("/"), sys.argv[2]
client = OpenAI(base_url=BASE + "/v1", api_key="unused", max_retries=0, timeout=120)

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


last_ok = time.monotonic()


def ok(message):
    """Prints a passed check with the seconds it took."""
    global last_ok
    now = time.monotonic()
    print(f"ok: {message} ({now - last_ok:.1f} s)", flush=True)
    last_ok = now


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def chat(messages=QUESTION, **kw):
    """A whole (not streamed) chat completion; greedy and short unless told."""
    kw.setdefault("max_tokens", 24)
    kw.setdefault("temperature", 0)
    return client.chat.completions.create(model=MODEL, messages=messages, **kw)


def stream_chat(messages=QUESTION, **kw):
    """A streamed chat completion, read to the end: (chunks, text)."""
    kw.setdefault("max_tokens", 24)
    kw.setdefault("temperature", 0)
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, stream=True, **kw))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def metric(name):
    """One unlabelled value from GET /metrics (Prometheus text)."""
    with urllib.request.urlopen(BASE + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return float(parts[1])
    raise AssertionError(f"{name} is not in /metrics")


def usage_adds_up(usage, what):
    check(usage is not None, f"{what}: no usage")
    check(usage.prompt_tokens >= 1 and usage.completion_tokens >= 1, f"{what}: usage {usage}")
    check(usage.total_tokens == usage.prompt_tokens + usage.completion_tokens,
          f"{what}: total_tokens is not prompt + completion: {usage}")


# The model list: OpenAI's shape, naming the served model.
ids = [m.id for m in client.models.list().data]
check(MODEL in ids, f"models.list() gives {ids}, not {MODEL}")
ok(f"models.list() names {MODEL}")

# (a) A chat completion.
greedy = chat()
answer = greedy.choices[0].message.content
check(greedy.object == "chat.completion", f"object is {greedy.object!r}")
check(greedy.choices[0].message.role == "assistant", f"role is {greedy.choices[0].message.role!r}")
check(answer and answer.strip(), f"empty answer: {greedy}")
check(greedy.choices[0].finish_reason in ("stop", "length"),
      f"finish_reason is {greedy.choices[0].finish_reason!r}")
check(greedy.system_fingerprint, "no system_fingerprint (the version that answered)")
usage_adds_up(greedy.usage, "chat")
ok(f"chat: {answer!r} ({greedy.usage.completion_tokens} tokens, "
      f"{greedy.choices[0].finish_reason}, {greedy.system_fingerprint})")

# (b) The same request streamed, with the usage at the end.
chunks, text = stream_chat(stream_options={"include_usage": True})
with_choices = [c for c in chunks if c.choices]
check(with_choices, "no chunk with choices")
check(all(c.object == "chat.completion.chunk" for c in chunks),
      f"objects: {sorted({c.object for c in chunks})}")
check(with_choices[0].choices[0].delta.role == "assistant",
      f"the first delta's role is {with_choices[0].choices[0].delta.role!r}")
finished = [c for c in with_choices if c.choices[0].finish_reason is not None]
check(len(finished) == 1, f"{len(finished)} chunks have a finish_reason, not 1")
check(finished[0].choices[0].finish_reason == greedy.choices[0].finish_reason,
      f"streamed finish_reason {finished[0].choices[0].finish_reason!r}, "
      f"whole {greedy.choices[0].finish_reason!r}")
last = chunks[-1]
check(not last.choices and last.usage is not None,
      f"the last chunk is not the usage chunk (empty choices + usage): {last}")
check(all(c.usage is None for c in chunks[:-1]), "a chunk before the last carries a usage")
usage_adds_up(last.usage, "stream")
contents = [c for c in with_choices if c.choices[0].delta.content]
check(1 <= len(contents) <= last.usage.completion_tokens,
      f"{len(contents)} content chunks for {last.usage.completion_tokens} completion tokens")
check(last.usage.completion_tokens == greedy.usage.completion_tokens,
      f"streamed {last.usage.completion_tokens} tokens, whole {greedy.usage.completion_tokens}")
check(text == answer, f"streamed text {text!r} differs from the whole answer {answer!r}")
ok(f"stream: {len(chunks)} chunks, {len(contents)} with content, same text as whole, "
      f"usage {last.usage.completion_tokens} tokens")

# (c) A stop sequence: a word from the middle of the greedy answer. The answer ends just
# before its first occurrence (as a substring, which may be inside an earlier word).
longer = chat(max_tokens=32).choices[0].message.content
words = [w for w in re.findall(r"[A-Za-z]{3,}", longer) if longer.find(w) > 0]
check(words, f"no word to stop at in {longer!r}")
stop = words[len(words) // 2]
stopped = chat(max_tokens=32, stop=[stop])
cut = stopped.choices[0].message.content
check(cut == longer[:longer.find(stop)],
      f"stop {stop!r}: got {cut!r}, expected {longer[:longer.find(stop)]!r} (from {longer!r})")
check(stopped.choices[0].finish_reason == "stop",
      f"stop {stop!r}: finish_reason is {stopped.choices[0].finish_reason!r}")
ok(f"stop {stop!r}: {cut!r}")

# (d) Seeds: sampled (temperature 0.9), the same seed gives the same text; other seeds
# differ at least once.
POEM = [{"role": "user", "content": "Write one line of a poem about the sea."}]
sampled = lambda seed: chat(POEM, temperature=0.9, seed=seed, max_tokens=8).choices[0].message.content
first, again = sampled(1234), sampled(1234)
check(first == again, f"seed 1234 twice: {first!r} then {again!r}")
others = [sampled(s) for s in (1, 2, 3)]
check(any(o != first for o in others), f"seeds 1, 2, 3 all give {first!r}")
ok(f"seed: 1234 twice gives {first!r}; {sum(o != first for o in others)} of 3 other seeds differ")


# (e) 8 streams at once.
def one_stream(i):
    chunks, text = stream_chat([{"role": "user", "content": f"Count from {i} to {i + 5}."}],
                               max_tokens=8)
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return reasons, text


with ThreadPoolExecutor(8) as pool:
    results = list(pool.map(one_stream, range(8)))
for i, (reasons, text) in enumerate(results):
    check(len(reasons) == 1 and reasons[0] in ("stop", "length"),
          f"concurrent stream {i}: finish_reasons {reasons} (text {text!r})")
    check(text, f"concurrent stream {i}: no text")
ok("8 concurrent streams finished")

# (f) A client going away mid-stream frees its generation.
stream = client.chat.completions.create(
    model=MODEL, messages=[{"role": "user", "content": "Tell me a very long story."}],
    max_tokens=400, temperature=0, stream=True)
for _, _chunk in zip(range(3), stream):
    pass
stream.close()
deadline = time.monotonic() + 10
while (running := metric("atelier_serve_generations_in_flight")) != 0:
    check(time.monotonic() < deadline,
          f"{running:g} generations still in flight 10 s after the client went away")
    time.sleep(0.1)
ok("disconnect: atelier_serve_generations_in_flight back to 0")


# (g) Bad requests: the right status (so the right exception class) and error body.
def rejected(kind, what, **kw):
    kw.setdefault("model", MODEL)
    kw.setdefault("messages", QUESTION)
    try:
        client.chat.completions.create(**kw)
    except kind as e:
        check(e.body and e.body.get("message"), f"{what}: no error message in {e.body}")
        return e
    except openai.APIStatusError as e:
        raise AssertionError(f"{what}: {type(e).__name__} ({e.status_code}), not {kind.__name__}: "
                             f"{e.body}") from e
    raise AssertionError(f"{what}: accepted, not {kind.__name__}")


rejected(openai.BadRequestError, "max_tokens=0", max_tokens=0)
rejected(openai.BadRequestError, "temperature=-1", temperature=-1, max_tokens=8)
rejected(openai.BadRequestError, "5 stop sequences", stop=["a", "b", "c", "d", "e"], max_tokens=8)
rejected(openai.BadRequestError, "n=2", n=2, max_tokens=8)
e = rejected(openai.NotFoundError, "model nope", model="nope", max_tokens=8)
check(e.code == "model_not_found", f"model nope: code {e.code!r}")
# 60 kB of text: far over the context, well under the 1 MiB body limit.
e = rejected(openai.BadRequestError, "a prompt over the context", max_tokens=8,
             messages=[{"role": "user", "content": "hello " * 10000}])
check(e.code == "context_length_exceeded", f"long prompt: code {e.code!r}")
counts = sorted({int(n) for n in re.findall(r"\d+", e.body["message"])})
check(len(counts) >= 2 and counts[-1] >= 5000,
      f"long prompt: the message does not name both token counts: {e.body['message']!r}")
ok(f"bad requests rejected; context: {e.body['message']!r}")

# (h) The legacy completions route.
done = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=8,
                                 temperature=0)
check(done.object == "text_completion", f"completions: object is {done.object!r}")
check(done.choices[0].text, f"completions: empty text: {done}")
check(done.choices[0].finish_reason in ("stop", "length"),
      f"completions: finish_reason {done.choices[0].finish_reason!r}")
usage_adds_up(done.usage, "completions")
ok(f"completions: {done.choices[0].text!r}")
