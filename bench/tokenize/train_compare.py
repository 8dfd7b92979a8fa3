"""Compare two BPE tokenizer.json files exactly: vocabulary (token -> id), merges (in
order), added tokens, and the pipeline settings (normalizer, pre-tokenizer, decoder,
post-processor, model flags).

  train_compare.py A.json B.json [--texts INPUT.jsonl --limit N] [--show K] [--json] [--json-out F]

Exit status 0 when vocabulary, merges and added tokens are identical, 1 otherwise.
Settings that differ are printed but do not fail the run. With --texts, the first N
texts of a JSONL are encoded with both (add_special_tokens=False) and the documents
whose ids differ are counted: how much a difference matters in practice.
Merges are read in both the list form (["a", "b"], tokenizers >= 0.20) and the string
form ("a b").
"""

import argparse
import json
import sys
from pathlib import Path


def load(path: Path):
    j = json.loads(path.read_text(encoding="utf-8"))
    model = j.get("model") or {}
    if model.get("type") not in (None, "BPE"):
        sys.exit(f"{path}: model type {model.get('type')}, not BPE")
    merges = []
    for m in model.get("merges", []):
        if isinstance(m, str):
            a, sep, b = m.partition(" ")
            if not sep:
                sys.exit(f"{path}: bad merge {m!r}")
            merges.append((a, b))
        else:
            merges.append((m[0], m[1]))
    return j, model.get("vocab", {}), merges


def show(tok):
    return json.dumps(tok, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    ap.add_argument("--show", type=int, default=10, help="differences to print per kind")
    ap.add_argument("--texts", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON line at the end")
    ap.add_argument("--json-out", type=Path, default=None, help="write the summary there")
    args = ap.parse_args()

    ja, va, ma = load(args.a)
    jb, vb, mb = load(args.b)
    k = args.show
    summary = {"a": str(args.a), "b": str(args.b)}
    ok = True

    # vocabulary
    only_a = sorted(set(va) - set(vb), key=lambda t: va[t])
    only_b = sorted(set(vb) - set(va), key=lambda t: vb[t])
    diff_id = sorted((t for t in set(va) & set(vb) if va[t] != vb[t]), key=lambda t: va[t])
    summary.update(
        vocab_a=len(va),
        vocab_b=len(vb),
        vocab_only_a=len(only_a),
        vocab_only_b=len(only_b),
        vocab_other_id=len(diff_id),
    )
    print(f"vocab: A {len(va)} entries, B {len(vb)}; only in A {len(only_a)}, only in B {len(only_b)}, "
          f"same token with another id {len(diff_id)}")
    if only_a or only_b or diff_id:
        ok = False
        for t in only_a[:k]:
            print(f"  only A: {show(t)} = {va[t]}")
        for t in only_b[:k]:
            print(f"  only B: {show(t)} = {vb[t]}")
        for t in diff_id[:k]:
            print(f"  id differs: {show(t)}  A {va[t]}  B {vb[t]}")
        ids = sorted(set(va.values()) | set(vb.values()))
        ia = {i: t for t, i in va.items()}
        ib = {i: t for t, i in vb.items()}
        first = next((i for i in ids if ia.get(i) != ib.get(i)), None)
        if first is not None:
            print(f"  first differing id {first}: A {show(ia.get(first))}  B {show(ib.get(first))}")
            summary["first_vocab_difference_id"] = first

    # merges
    first = next((i for i, (x, y) in enumerate(zip(ma, mb)) if x != y), None)
    if first is None and len(ma) != len(mb):
        first = min(len(ma), len(mb))
    sa, sb = set(ma), set(mb)
    summary.update(
        merges_a=len(ma),
        merges_b=len(mb),
        merges_first_difference=first,
        merges_only_a=len(sa - sb),
        merges_only_b=len(sb - sa),
        merges_duplicates_a=len(ma) - len(sa),
        merges_duplicates_b=len(mb) - len(sb),
    )
    print(f"merges: A {len(ma)}, B {len(mb)}; first difference at rank {'none' if first is None else first}; only in A {len(sa - sb)}, "
          f"only in B {len(sb - sa)}; repeated pairs A {len(ma) - len(sa)}, B {len(mb) - len(sb)}")
    if first is not None:
        ok = False
        lo = max(0, first - 2)
        for i in range(lo, min(first + k, max(len(ma), len(mb)))):
            x = ma[i] if i < len(ma) else None
            y = mb[i] if i < len(mb) else None
            mark = "  " if x == y else "!="
            print(f"  {mark} rank {i}: A {show(list(x) if x else None)}  B {show(list(y) if y else None)}")
        same_set_other_order = sa == sb
        summary["merges_same_set"] = same_set_other_order
        if same_set_other_order:
            print("  (same set of merges, in another order)")

    # added tokens
    def added(j):
        return [(t["id"], t["content"], bool(t.get("special"))) for t in j.get("added_tokens", [])]

    aa, ab = added(ja), added(jb)
    summary["added_tokens_equal"] = aa == ab
    if aa != ab:
        ok = False
        print(f"added tokens differ:\n  A {aa[:k]}\n  B {ab[:k]}")
    else:
        print(f"added tokens: identical ({len(aa)})")

    # settings (informational)
    settings_diff = []
    for key in ("normalizer", "pre_tokenizer", "post_processor", "decoder", "truncation", "padding"):
        if ja.get(key) != jb.get(key):
            settings_diff.append(key)
            print(f"setting {key} differs:\n  A {json.dumps(ja.get(key))}\n  B {json.dumps(jb.get(key))}")
    mka = {x: y for x, y in (ja.get("model") or {}).items() if x not in ("vocab", "merges")}
    mkb = {x: y for x, y in (jb.get("model") or {}).items() if x not in ("vocab", "merges")}
    for key in sorted(set(mka) | set(mkb)):
        if mka.get(key) != mkb.get(key):
            settings_diff.append(f"model.{key}")
            print(f"setting model.{key} differs: A {mka.get(key)!r}  B {mkb.get(key)!r}")
    summary["settings_differ"] = settings_diff

    if args.texts:
        from tokenizers import Tokenizer

        ta = Tokenizer.from_file(str(args.a))
        tb = Tokenizer.from_file(str(args.b))
        texts = []
        with open(args.texts, encoding="utf-8") as f:
            for line in f:
                try:
                    t = json.loads(line).get("text")
                except (json.JSONDecodeError, AttributeError):
                    continue
                if isinstance(t, str) and t:
                    texts.append(t)
                if len(texts) >= args.limit:
                    break
        ea = ta.encode_batch(texts, add_special_tokens=False)
        eb = tb.encode_batch(texts, add_special_tokens=False)
        differ = [i for i, (x, y) in enumerate(zip(ea, eb)) if x.ids != y.ids]
        na = sum(len(x.ids) for x in ea)
        nb = sum(len(x.ids) for x in eb)
        summary.update(texts=len(texts), texts_differ=len(differ), tokens_a=na, tokens_b=nb)
        print(f"encoding {len(texts)} texts: {len(differ)} differ; tokens A {na}, B {nb}")
        if differ:
            i = differ[0]
            x, y = ea[i].ids, eb[i].ids
            p = next((j for j, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
            print(f"  first: text {i}, token {p}: A {ea[i].tokens[p:p + 5]}  B {eb[i].tokens[p:p + 5]}")

    summary["identical"] = ok
    print("IDENTICAL (vocab, merges, added tokens)" if ok else "DIFFERENT")
    if args.json:
        print(json.dumps(summary))
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
