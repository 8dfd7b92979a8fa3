"""Build the tokenization corpus from the real texts in ../shared/data.

One JSON object a line, {"id": ..., "text": ...}, in a fixed order:
  1. extraction/scrapinghub ground-truth articleBody, keys sorted        (id "scrapinghub/<sha256>")
  2. extraction/wcxb-dev ground_truth.main_content, files sorted          (id "wcxb/<NNNN>")
  3. langid/lingua-sentences, languages sorted, 20 sentences a document
     joined with "\n" (a language's last group may be shorter)           (id "lingua/<lang>/<k>")
  4. classification/sms-spam, one document per message, file order      (id "sms/<line>")
Empty texts are left out (datatrove's readers skip them too).

  corpus.py [--data DIR] [-o FILE]            bench/.work/tokenize/corpus.jsonl
  corpus.py --times K [-o FILE]               K copies with distinct ids ("<id>#<copy>"),
                                              bench/.work/tokenize/corpus-x<K>.jsonl
  corpus.py --parts N [--times K]            the same documents dealt round-robin into N files
                                              (document i to part i % N, so the parts hold
                                              similar numbers of tokens),
                                              <stem>-parts<N>/part-RRRRR.jsonl (for --tasks N:
                                              both tools give input file i to task i % N)
  corpus.py --edge [--tokenizer T] [-o FILE]  a few edge cases, bench/.work/tokenize/edge.jsonl;
                                              with the tokenizer.json T, also
                                              <stem>-no-literal-specials.jsonl: the same lines
                                              less the documents whose text contains a special
                                              token of T written literally
  corpus.py --bigdoc [--bytes B] [-o FILE]    one document, the corpus texts (in order, again
                                              from the first when they run out) joined with
                                              "\n\n" until the text reaches B bytes (default
                                              100,000,000), bench/.work/tokenize/bigdoc.jsonl
Prints a JSON summary (documents, bytes, characters, per source) on stdout.
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work" / "tokenize"
LINGUA_GROUP = 20


def default_data() -> Path:
    for cand in (ROOT.parent / "shared" / "data", ROOT / "shared" / "data", Path("/work/shared/data")):
        if (cand / "README.md").is_file():
            return cand
    sys.exit("corpus.py: cannot find shared/data (use --data)")


def documents(data: Path):
    """Yield (source, id, text) in the corpus order."""
    gt = json.loads((data / "extraction/scrapinghub/ground-truth.json").read_text(encoding="utf-8"))
    for key in sorted(gt):
        yield "scrapinghub", f"scrapinghub/{key}", gt[key].get("articleBody") or ""

    wdir = data / "extraction/wcxb-dev/ground-truth"
    for name in sorted(os.listdir(wdir)):
        if not name.endswith(".json"):
            continue
        d = json.loads((wdir / name).read_text(encoding="utf-8"))
        yield "wcxb", f"wcxb/{name[:-5]}", (d.get("ground_truth") or {}).get("main_content") or ""

    ldir = data / "langid/lingua-sentences"
    for name in sorted(os.listdir(ldir)):
        if not name.endswith(".txt"):
            continue
        lang = name[:-4]
        lines = (ldir / name).read_text(encoding="utf-8").splitlines()
        lines = [line for line in lines if line.strip()]
        for k in range(0, len(lines), LINGUA_GROUP):
            yield "lingua", f"lingua/{lang}/{k // LINGUA_GROUP}", "\n".join(lines[k : k + LINGUA_GROUP])

    with open(data / "classification/sms-spam/SMSSpamCollection", encoding="utf-8", newline="") as f:
        for i, line in enumerate(f):
            if i == 0:
                continue  # header "Label<TAB>SMS"
            line = line.rstrip("\r\n")
            _, _, text = line.partition("\t")
            yield "sms", f"sms/{i}", text


# Edge cases for parity with datatrove's JsonlReader + DocumentTokenizer. datatrove skips
# lines whose text is missing or empty ("Found document without text, skipping") and
# lines that are not JSON (a warning), but keeps whitespace-only texts. A special token
# written literally in a text is matched as that special token by HF tokenizers (even
# with add_special_tokens=False), so datatrove writes its id; atelier encodes it as
# ordinary text, as llama.cpp does (a web page cannot inject an EOS): these documents
# are the one deliberate difference, checked apart (compare.py --literal-specials-may-differ).
EDGE = [
    {"id": "plain", "text": "Hello world. This is a plain document."},
    {"id": "empty", "text": ""},
    {"id": "space", "text": " "},
    {"id": "newlines", "text": "\n\n\n"},
    {"id": "crlf", "text": "line one\r\nline two\r\n"},
    {"id": "no-text-key", "content": "this line has no text field"},
    {"id": "literal-eos", "text": "before <|endoftext|> after"},
    {"id": "literal-im", "text": "<|im_start|>user\nhi<|im_end|>"},
    {"id": "unicode", "text": "Grüße aus Köln – 東京 😀 ﬁ e\u0301 \u2028 tab\tend"},
    {"id": "literal-eos-only", "text": "<|endoftext|>"},
    {"id": "near-specials", "text": "<|endoftext| > <|im_start <im_end|> <|endoftext|"},
    {"id": "digits", "text": "1234567890 3.14159 2026-12-04"},
    {"id": "literal-glued", "text": "x<file_sep>y\n<jupyter_code>print(1)<|endoftext|><|endoftext|>"},
    {"id": "spaces", "text": "   leading and trailing   "},
    {"id": "long-word", "text": "a" * 5000},
    {"id": "null-text", "text": None},
    {"id": "last", "text": "The last document."},
]


def special_tokens(tokenizer_json: Path):
    """The contents of the special added tokens of a tokenizer.json."""
    j = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    return sorted({a["content"] for a in j.get("added_tokens", []) if a.get("special")})


def has_literal_special(text, specials) -> bool:
    return isinstance(text, str) and any(s in text for s in specials)


def write_bigdoc(data: Path, out: Path, target: int):
    texts = [t for _, _, t in documents(data) if t]
    pieces, size, n, i = [], 0, 0, 0
    while size < target:
        t = texts[i % len(texts)]
        if pieces:
            pieces.append("\n\n")
            size += 2
        pieces.append(t)
        size += len(t.encode("utf-8"))
        n += 1
        i += 1
    text = "".join(pieces)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps({"id": "bigdoc", "text": text}, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    return {"file": str(out), "documents_joined": n, "text_bytes": size, "characters": len(text), "line_bytes": out.stat().st_size}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("-o", "--out", type=Path, default=None)
    ap.add_argument("--times", type=int, default=1, help="write K copies with distinct ids")
    ap.add_argument("--parts", type=int, default=1, help="deal into N files round-robin")
    ap.add_argument("--edge", action="store_true", help="write the edge-case file instead")
    ap.add_argument("--tokenizer", type=Path, default=None, help="with --edge: also write the file without literal special tokens")
    ap.add_argument("--bigdoc", action="store_true", help="write one big document instead")
    ap.add_argument("--bytes", type=int, default=100_000_000, help="with --bigdoc: the text's size at least")
    args = ap.parse_args()

    if args.edge:
        out = args.out or WORK / "edge.jsonl"
        out.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(d, ensure_ascii=False) + "\n" for d in EDGE] + ["this line is not JSON\n"]
        summary = {"file": str(out), "lines": len(lines)}
        outputs = [(out, lines)]
        if args.tokenizer:
            specials = special_tokens(args.tokenizer)
            keep = [x for d, x in zip(EDGE + [None], lines) if not (d and has_literal_special(d.get("text"), specials))]
            clean = out.with_name(f"{out.stem}-no-literal-specials.jsonl")
            outputs.append((clean, keep))
            summary.update({"no_literal_specials": str(clean), "lines_kept": len(keep),
                            "literal_special_documents": [d["id"] for d in EDGE if has_literal_special(d.get("text"), specials)]})
        for path, part in outputs:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.writelines(part)
        print(json.dumps(summary))
        return

    data = args.data or default_data()
    if args.bigdoc:
        print(json.dumps(write_bigdoc(data, args.out or WORK / "bigdoc.jsonl", args.bytes)))
        return
    k = args.times
    out = args.out or WORK / ("corpus.jsonl" if k == 1 else f"corpus-x{k}.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    docs = [(s, i, t) for s, i, t in documents(data) if t]
    per = {}
    for s, _, t in docs:
        p = per.setdefault(s, {"documents": 0, "bytes": 0})
        p["documents"] += 1
        p["bytes"] += len(t.encode("utf-8"))
    lines = [
        json.dumps({"id": i if k == 1 else f"{i}#{c}", "text": t}, ensure_ascii=False) + "\n"
        for c in range(k)
        for _, i, t in docs
    ]
    files = []
    if args.parts == 1:
        files.append((out, lines))
    else:
        folder = out.with_name(f"{out.stem}-parts{args.parts}")
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.jsonl"):
            old.unlink()
        for r in range(args.parts):
            files.append((folder / f"part-{r:05d}.jsonl", lines[r :: args.parts]))
    for path, part in files:
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(part)
        os.replace(tmp, path)
    print(
        json.dumps(
            {
                "files": [str(p) for p, _ in files],
                "documents_per_file": [len(part) for _, part in files],
                "copies": k,
                "documents": len(docs) * k,
                "text_bytes": sum(p["bytes"] for p in per.values()) * k,
                "characters": sum(len(t) for _, _, t in docs) * k,
                "sources": per,
            }
        )
    )


if __name__ == "__main__":
    main()
