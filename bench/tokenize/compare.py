"""Check an `atelier tokenize` output folder against datatrove and HF tokenizers.

  compare.py check --atelier OUT --datatrove DTDIR --input INPUT.jsonl... [--eos TOK] [--bos TOK]
                   [--split train] [--literal-specials-may-differ] [--json-out FILE]
  compare.py bigdoc --atelier OUT --input BIG.jsonl [--eos TOK] [--chunk-chars 100000]
                   [--validate-chars 3000000] [--json-out FILE]
  compare.py expected --datatrove DTDIR --tokenizer tokenizer.json --eos TOK [--bos TOK]
                   [--layout L]... -o OUT
  compare.py selftest --datatrove DTDIR --tokenizer tokenizer.json --eos TOK --input INPUT.jsonl...

check (exit 1 on any mismatch):
  index    OUT/index.json: format 1, tokenizer.vocab_size = the vocabulary size of
           OUT/tokenizer.json (added tokens included), tokenizer.eos/bos = the ids of
           --eos/--bos, every shard's files exist and hold its documents and tokens, no
           part file on disk that index.json does not list.
  (a)      datatrove layout: the concatenation of OUT's .ds part files of the split (rank
           order) is byte-identical to the concatenation of DTDIR/datatrove/*.ds (name
           order); the .ds.index files, turned into global document ends by adding each
           file's token offset, are identical; every .ds.metadata reads
           "<name>|<token size>\\n<tokens in the file>\\n<humanize.metric(tokens, 'T')>"
           with exactly one "|" (DocumentTokenizerMerger splits line 1 on it).
  (b)      ids: every text of the input JSONL files that datatrove would read (lines that
           parse, with a non-empty "text") re-encoded with Tokenizer.from_file(OUT/
           tokenizer.json), encode_special_tokens = True, .encode(text,
           add_special_tokens=False) + [EOS] (BOS first with --bos) equals atelier's
           datatrove-layout document, one by one. encode_special_tokens: atelier encodes a
           special token written literally in a text ("a <|endoftext|> b") as ordinary
           text, as llama.cpp does, so that a document cannot inject an EOS; datatrove's
           encode_batch (tokenizers' default) writes the special id instead. The number of
           documents containing a special token literally is printed.
  (c)      megatron layout: .idx read with the reader below (header, version 1, dtype
           code, counts, int32 lengths, int64 byte pointers, int64 document indices 0..N),
           .bin tokens equal the datatrove-layout documents of the same rank; with
           DTDIR/megatron (datatrove_tokenize.py --megatron), the concatenated .bin bytes
           equal datatrove's, and each .idx too when the shards hold the same documents.
  (d)      llmc layout: 256 int32 header, magic 20240520 + version 1 (uint16 tokens) or
           magic 20240801 + version 7 (uint32, llm.c's llama-3 variant), header[2] = token
           count, the rest of the header 0, size = 1024 + count * itemsize; llmc-raw: the
           bare tokens. Both equal the datatrove-layout tokens of the same rank.

--literal-specials-may-differ: (a) and (c) compare with datatrove document by document
           instead of byte for byte: the same number of documents, every document
           without a literal special token identical to datatrove's, and every document
           that differs one with a literal special token, where datatrove's ids are
           tokenizers' default encode (special tokens matched) + EOS. Without it, (a) and
           (c) require byte identity and fail on such documents (corpus.py --edge writes
           the edge cases with and without them).

bigdoc: one huge document (corpus.py --bigdoc) against Python tokenizers. Encoding 100 MB
at once takes tokenizers more than 16 GB, so the text is cut into chunks of about
--chunk-chars characters, each cut in the middle of a "\n\n" between two letters
(\p{L}), and the chunks are encoded (encode_special_tokens = True) and concatenated.
That is exact for this tokenizer: no normalizer; pre-tokenizer \p{N} isolated, then
the GPT-2 regex isolated (or ByteLevel with its regex), then bytes; in "x\n\ny" with
letters x, y the regex always yields the pieces ..x | \n | \n | y.., and a chunk ending
in "x\n" or starting with "\ny" yields the same pieces, so BPE (within pieces) gives
the same ids. The tokenizer.json settings are checked to be those, and the chunked ids
are checked against one whole encode on three windows of --validate-chars characters
(start, middle, end). All of
atelier's ids are compared, not only their count.

expected: writes the folder atelier should produce, from datatrove's own output (.ds files
copied, llm.c / raw / Megatron written here from the formats), for a byte-by-byte diff.
selftest: expected into DTDIR/expected, then check on it (tests the readers and writers of
this file against datatrove's DocumentTokenizer and MegatronDocumentTokenizer output).
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

MEGATRON_HEADER = b"MMIDIDX\x00\x00"
# Megatron-LM megatron/core/datasets/indexed_dataset.py DType codes
MEGATRON_DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}
LLMC_FLAVOURS = {(20240520, 1): np.dtype("<u2"), (20240801, 7): np.dtype("<u4")}
LLMC_HEADER_INTS = 256
LAYOUTS = ("datatrove", "llmc", "llmc-raw", "megatron")


def token_size_for(vocab_size: int) -> int:
    """datatrove's rule (utils/tokenization.py): 4 bytes when vocab > 65536, else 2."""
    return 4 if vocab_size > 65536 else 2


def token_dtype(token_size: int):
    return np.dtype("<u4") if token_size == 4 else np.dtype("<u2")


# ----------------------------------------------------------------------------- readers


def read_ds(path: Path, token_size: int):
    """A datatrove .ds file and its .ds.index: (tokens, document ends in tokens)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % token_size:
        raise ValueError(f"{path}: {raw.size} bytes, not a multiple of {token_size}")
    tokens = raw.view(token_dtype(token_size))
    idx = Path(str(path) + ".index")
    ends = np.fromfile(idx, dtype="<u8") if idx.exists() else None
    return tokens, ends


def read_megatron(bin_path: Path, idx_path: Path):
    with open(idx_path, "rb") as f:
        buf = f.read()
    if buf[:9] != MEGATRON_HEADER:
        raise ValueError(f"{idx_path}: bad header {buf[:9]!r}")
    (version,) = struct.unpack_from("<Q", buf, 9)
    (code,) = struct.unpack_from("<B", buf, 17)
    seq_count, doc_count = struct.unpack_from("<QQ", buf, 18)
    off = 34
    if code not in MEGATRON_DTYPES:
        raise ValueError(f"{idx_path}: unknown dtype code {code}")
    dtype = np.dtype(MEGATRON_DTYPES[code]).newbyteorder("<")
    lengths = np.frombuffer(buf, dtype="<i4", count=seq_count, offset=off)
    off += lengths.nbytes
    pointers = np.frombuffer(buf, dtype="<i8", count=seq_count, offset=off)
    off += pointers.nbytes
    doc_idx = np.frombuffer(buf, dtype="<i8", count=doc_count, offset=off)
    off += doc_idx.nbytes
    tokens = np.fromfile(bin_path, dtype=dtype)
    return {
        "version": version,
        "code": code,
        "dtype": dtype,
        "sequence_count": seq_count,
        "document_count": doc_count,
        "lengths": lengths,
        "pointers": pointers,
        "document_indices": doc_idx,
        "trailing_bytes": len(buf) - off,
        "bin_bytes": os.path.getsize(bin_path),
        "tokens": tokens,
    }


def read_llmc(path: Path):
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size < LLMC_HEADER_INTS * 4:
        raise ValueError(f"{path}: {raw.size} bytes, shorter than the 1024-byte header")
    header = raw[: LLMC_HEADER_INTS * 4].view("<i4")
    magic, version, count = int(header[0]), int(header[1]), int(header[2])
    dtype = LLMC_FLAVOURS.get((magic, version))
    body = raw[LLMC_HEADER_INTS * 4 :]
    tokens = None
    if dtype is not None and body.size % dtype.itemsize == 0:
        tokens = body.view(dtype)
    return {
        "magic": magic,
        "version": version,
        "count": count,
        "dtype": dtype,
        "header_rest_zero": bool(np.all(header[3:] == 0)),
        "size": int(raw.size),
        "tokens": tokens,
    }


# ----------------------------------------------------------------------------- writers


def humanize_metric(n: int) -> str:
    try:
        import humanize

        return humanize.metric(n, unit="T")
    except ImportError:  # pragma: no cover
        return None


def write_ds(path: Path, tokens: np.ndarray, ends: np.ndarray, name: str, token_size: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens.astype(token_dtype(token_size)).tofile(path)
    np.asarray(ends, dtype="<u8").tofile(str(path) + ".index")
    with open(str(path) + ".metadata", "w") as f:
        f.write("\n".join([f"{name}|{token_size}", str(len(tokens)), humanize_metric(len(tokens))]))


def write_llmc(path: Path, tokens: np.ndarray, token_size: int, header=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        if header:
            h = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
            h[0], h[1] = (20240520, 1) if token_size == 2 else (20240801, 7)
            h[2] = len(tokens)
            f.write(h.tobytes())
        f.write(tokens.astype(token_dtype(token_size)).tobytes())


def write_megatron(bin_path: Path, tokens: np.ndarray, ends: np.ndarray, token_size: int):
    """As datatrove's MegatronTokenizedFile: uint16 (code 8) or int32 (code 4) tokens."""
    bin_path.parent.mkdir(parents=True, exist_ok=True)
    dtype, code = (np.dtype("<i4"), 4) if token_size == 4 else (np.dtype("<u2"), 8)
    tokens.astype(dtype).tofile(bin_path)
    lengths = np.diff(np.concatenate([[0], ends])).astype("<i4")
    pointers = (np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]]) * dtype.itemsize).astype("<i8")
    doc_idx = np.arange(len(lengths) + 1, dtype="<i8")
    with open(bin_path.with_suffix(".idx"), "wb") as f:
        f.write(MEGATRON_HEADER)
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", code))
        f.write(struct.pack("<Q", len(lengths)))
        f.write(struct.pack("<Q", len(doc_idx)))
        f.write(lengths.tobytes())
        f.write(pointers.tobytes())
        f.write(doc_idx.tobytes())


# ----------------------------------------------------------------------------- helpers


class Report:
    def __init__(self):
        self.failures = []
        self.results = {}

    def check(self, name, ok, detail=""):
        status = "PASS" if ok else "FAIL"
        print(f"[{status}] {name}" + (f": {detail}" if detail else ""))
        self.results[name] = {"ok": bool(ok), "detail": detail}
        if not ok:
            self.failures.append(name)
        return ok

    def info(self, text):
        print(f"       {text}")


def input_texts(paths):
    """The documents datatrove's JsonlReader yields: (id, text), skips counted."""
    try:
        import orjson

        loads = orjson.loads
    except ImportError:  # pragma: no cover
        loads = json.loads
    docs, skipped_empty, skipped_bad = [], 0, 0
    for p in paths:
        with open(p, encoding="utf-8") as f:  # text mode, universal newlines, like datatrove
            for li, line in enumerate(f):
                try:
                    d = loads(line)
                except Exception:
                    skipped_bad += 1
                    continue
                text = d.get("text", "") if isinstance(d, dict) else ""
                if not text:
                    skipped_empty += 1
                    continue
                docs.append((d.get("id", f"{p}/{li}"), text))
    return docs, skipped_empty, skipped_bad


def special_contents(tok):
    """The texts of the tokenizer's special added tokens."""
    return sorted({a.content for a in tok.get_added_tokens_decoder().values() if a.special})


def has_literal_special(text: str, specials) -> bool:
    return any(s in text for s in specials)


def compare_documents(rep, label, A, AE, D, DE, literal, expect_dt, show):
    """Document by document: atelier (A, ends AE) vs datatrove (D, ends DE). Documents
    without a literal special token must be identical; the ones that differ must all
    hold one, and there datatrove's ids must be expect_dt(i)."""
    n = len(AE)
    if not rep.check(f"{label} same number of documents as datatrove and the input", n == len(DE) == len(literal),
                     f"atelier {n}, datatrove {len(DE)}, input {len(literal)}"):
        return
    a_st = np.concatenate([[0], AE[:-1]]).astype(np.int64) if n else AE
    d_st = np.concatenate([[0], DE[:-1]]).astype(np.int64) if n else DE
    differ = [i for i in range(n) if not np.array_equal(A[a_st[i]:AE[i]], D[d_st[i]:DE[i]])]
    bad = [i for i in differ if not literal[i]]
    lit = sum(literal)
    rep.check(
        f"{label} documents identical to datatrove's, but for ones with literal special tokens",
        not bad,
        f"{n - len(differ)} of {n} identical; {len(differ)} differ, {len(differ) - len(bad)} of them with literal special tokens "
        f"(of {lit} such documents)" + (f"; differing WITHOUT one: documents {bad[:5]} ({show(bad[0])})" if bad else ""),
    )
    wrong = [i for i in differ if literal[i] and not np.array_equal(D[d_st[i]:DE[i]].astype(np.int64), np.asarray(expect_dt(i), dtype=np.int64))]
    rep.check(
        f"{label} where they differ, datatrove's ids = tokenizers' default encode (special tokens matched)",
        not wrong,
        f"{len(differ) - len(wrong)} of {len(differ)}" + (f"; not: documents {wrong[:5]}" if wrong else ""),
    )
    if len(differ) < lit:
        rep.info(f"{lit - len(differ)} document(s) with a literal special token identical in both tools")


def first_diff(a: np.ndarray, b: np.ndarray):
    n = min(len(a), len(b))
    neq = np.nonzero(a[:n] != b[:n])[0]
    if neq.size:
        return int(neq[0])
    return n if len(a) != len(b) else None


def doc_of(ends: np.ndarray, pos: int) -> int:
    return int(np.searchsorted(ends, pos, side="right"))


def part_files(folder: Path, suffix: str):
    return sorted(p for p in folder.glob(f"*{suffix}") if p.name.endswith(suffix))


# ----------------------------------------------------------------------------- check


def load_shards(out: Path, index: dict, split: str, layout: str, rep: Report):
    """The part files of one layout and split, in rank order, from index.json."""
    shards = [s for s in index.get("shards", []) if s.get("layout") == layout and s.get("split", "train") == split]
    shards.sort(key=lambda s: s.get("rank", 0))
    suffix = {"datatrove": ".ds", "llmc": ".bin", "llmc-raw": ".bin", "megatron": ".bin"}[layout]
    listed = []
    for s in shards:
        files = [f for f in s.get("files", []) if f.endswith(suffix)]
        if len(files) != 1:
            rep.check(f"index: {layout} rank {s.get('rank')} names one {suffix} file", False, f"files {s.get('files')}")
        for f in files:
            listed.append((s, out / f))
    on_disk = set(part_files(out / layout / split, suffix))
    missing = [str(p) for _, p in listed if not p.is_file()]
    extra = sorted(str(p) for p in on_disk - {p for _, p in listed})
    if shards or on_disk:
        rep.check(
            f"index: {layout}/{split} files listed = files on disk",
            not missing and not extra,
            f"{len(listed)} listed" + (f"; missing {missing[:3]}" if missing else "") + (f"; not listed {extra[:3]}" if extra else ""),
        )
    return [(s, p) for s, p in listed if p.is_file()]


def cmd_check(args) -> int:
    from tokenizers import Tokenizer

    rep = Report()
    out = args.atelier.resolve()
    dt = args.datatrove.resolve() if args.datatrove else None
    split = args.split

    # ---- index.json and tokenizer
    idx_path = out / "index.json"
    if not rep.check("index.json exists", idx_path.is_file(), str(idx_path)):
        return 1
    index = json.loads(idx_path.read_text())
    rep.check("index.json format 1", index.get("format") == 1, f"format {index.get('format')!r}")
    tok_path = out / "tokenizer.json"
    if not rep.check("tokenizer.json exists", tok_path.is_file()):
        return 1
    tok = Tokenizer.from_file(str(tok_path))  # tokenizers' default: literal special tokens matched (datatrove)
    tok_text = Tokenizer.from_file(str(tok_path))  # special tokens written in a text encoded as text (atelier)
    tok_text.encode_special_tokens = True
    specials = special_contents(tok)
    tj = json.loads(tok_path.read_text(encoding="utf-8"))
    ti = index.get("tokenizer", {})
    vocab = tok.get_vocab_size(with_added_tokens=True)
    rep.check("index: tokenizer.vocab_size", ti.get("vocab_size") == vocab, f"index {ti.get('vocab_size')}, tokenizer.json {vocab}")
    sha = hashlib.sha256(tok_path.read_bytes()).hexdigest()
    rep.info(f"index tokenizer.hash {ti.get('hash')} (tokenizer.json sha256 {sha[:16]}...; atelier names it by BLAKE3)")
    if tj.get("truncation") or tj.get("padding"):
        rep.info("tokenizer.json sets truncation/padding: datatrove's encode_batch would apply them")

    def special_id(name, given):
        if given is None:
            return ti.get(name)
        i = tok.token_to_id(given)
        rep.check(f"index: tokenizer.{name} = id of {given!r}", i is not None and ti.get(name) == i, f"index {ti.get(name)}, token_to_id {i}")
        return i

    eos = special_id("eos", args.eos)
    bos = special_id("bos", args.bos)
    if eos is None:
        rep.info("no EOS id: documents are compared without EOS")
    token_size = token_size_for(vocab)
    if index.get("dtype") is not None:
        given = {"uint16": 2, "uint32": 4}.get(index["dtype"])
        rep.check("index: dtype is uint16 or uint32", given is not None, repr(index["dtype"]))
        if given and given != token_size:
            rep.info(f"index dtype {index['dtype']} is not datatrove's choice for vocab {vocab} ({token_size} bytes); using {given}")
        token_size = given or token_size
    rep.info(f"vocab {vocab} -> {token_size}-byte tokens; eos {eos}, bos {bos}")

    docs, literal = [], []
    if args.input:
        docs, skipped_empty, skipped_bad = input_texts(args.input)
        literal = [has_literal_special(t, specials) for _, t in docs]
        rep.info(f"input: {len(docs)} documents with text; skipped {skipped_empty} without text, {skipped_bad} unparsable lines")
        rep.info(f"input: {sum(literal)} document(s) contain special tokens written literally"
                 + (f" ({', '.join(repr(docs[i][0]) for i in range(len(docs)) if literal[i])[:300]})" if any(literal) else "")
                 + f"; {len(specials)} special tokens")
    may_differ = args.literal_specials_may_differ
    if may_differ and not args.input:
        sys.exit("compare.py: --literal-specials-may-differ needs --input")
    with_bos = bos is not None and args.bos is not None

    def want_ids(t, enc):
        return ([bos] if with_bos else []) + enc.encode(t, add_special_tokens=False).ids + ([eos] if eos is not None else [])

    def show_doc(i):
        return f"id {docs[i][0]!r}, text {docs[i][1][:60]!r}" if i < len(docs) else f"document {i}"

    # ---- (a) datatrove layout
    ds_shards = load_shards(out, index, split, "datatrove", rep)
    a_tokens, a_ends, a_rank = [], [], {}
    offset = 0
    for s, p in ds_shards:
        toks, ends = read_ds(p, token_size)
        ok = ends is not None
        rep.check(f"(a) {p.name} has a .ds.index", ok)
        if not ok:
            continue
        ok = (len(ends) == 0 and len(toks) == 0) or (len(ends) > 0 and int(ends[-1]) == len(toks) and bool(np.all(np.diff(ends.astype(np.int64)) > 0)) and int(ends[0]) > 0)
        rep.check(f"(a) {p.name} index ends increase to the file's {len(toks)} tokens", ok)
        rep.check(
            f"(a) index shard rank {s.get('rank')}: documents/tokens",
            s.get("documents") == len(ends) and s.get("tokens") == len(toks),
            f"index {s.get('documents')}/{s.get('tokens')}, files {len(ends)}/{len(toks)}",
        )
        meta = Path(str(p) + ".metadata")
        if meta.is_file():
            lines = meta.read_text().split("\n")
            first = lines[0] if lines else ""
            want3 = humanize_metric(len(toks))
            ok = (
                len(lines) == 3
                and first.count("|") == 1
                and first.endswith(f"|{token_size}")
                and lines[1] == str(len(toks))
                and (want3 is None or lines[2] == want3)
            )
            rep.check(f"(a) {meta.name}", ok, repr("\n".join(lines)) if not ok else first)
        else:
            rep.check(f"(a) {p.name}.metadata exists", False)
        a_rank[s.get("rank")] = (toks, ends)
        a_tokens.append(toks)
        a_ends.append(ends.astype(np.int64) + offset)
        offset += len(toks)
    A = np.concatenate(a_tokens) if a_tokens else np.zeros(0, token_dtype(token_size))
    AE = np.concatenate(a_ends) if a_ends else np.zeros(0, np.int64)
    rep.info(f"atelier datatrove layout: {len(ds_shards)} file(s), {len(AE)} documents, {len(A)} tokens; per rank "
             + ", ".join(f"{r}: {len(e)} docs/{len(t)} tok" for r, (t, e) in sorted(a_rank.items())))

    if dt is not None:
        d_files = part_files(dt / "datatrove", ".ds")
        d_tokens, d_ends, off = [], [], 0
        for p in d_files:
            toks, ends = read_ds(p, token_size)
            d_tokens.append(toks)
            d_ends.append(ends.astype(np.int64) + off)
            off += len(toks)
        D = np.concatenate(d_tokens) if d_tokens else np.zeros(0, token_dtype(token_size))
        DE = np.concatenate(d_ends) if d_ends else np.zeros(0, np.int64)
        rep.info(f"datatrove: {len(d_files)} file(s), {len(DE)} documents, {len(D)} tokens")
        if may_differ:
            compare_documents(rep, "(a) .ds:", A, AE, D, DE, literal, lambda i: want_ids(docs[i][1], tok), show_doc)
            d_files = []  # no byte comparison of the files
        fd = first_diff(A, D) if not may_differ else None
        detail = f"{len(A) * token_size} bytes"
        if fd is not None:
            detail = (f"first difference at token {fd} (atelier doc {doc_of(AE, fd)}, datatrove doc {doc_of(DE, fd)}): "
                      f"atelier {A[max(0, fd - 3):fd + 5].tolist()} datatrove {D[max(0, fd - 3):fd + 5].tolist()}; "
                      f"lengths {len(A)} vs {len(D)}")
        if not may_differ:
            rep.check("(a) .ds bytes identical to datatrove's (concatenated in rank order)", fd is None, detail)
            fe = first_diff(AE, DE)
            rep.check(
                "(a) .ds.index identical (global document ends)",
                fe is None,
                f"{len(AE)} ends" if fe is None else f"first difference at document {fe}: atelier {AE[fe:fe + 3].tolist()} datatrove {DE[fe:fe + 3].tolist()}; counts {len(AE)} vs {len(DE)}",
            )
            if (fd is not None or fe is not None) and any(literal):
                rep.info("the input has documents with literal special tokens, which datatrove encodes as special ids and "
                         "atelier as text: --literal-specials-may-differ compares them apart")
        if d_files and len(d_files) == len(ds_shards):
            same_split = all(
                os.path.getsize(str(p) + ".index") == os.path.getsize(str(q) + ".index") for (_, p), q in zip(ds_shards, d_files)
            )
            if same_split:
                same_meta = all(
                    Path(str(p) + ".metadata").read_text().split("\n")[1:] == Path(str(q) + ".metadata").read_text().split("\n")[1:]
                    for (_, p), q in zip(ds_shards, d_files)
                    if Path(str(p) + ".metadata").is_file()
                )
                rep.check("(a) .ds.metadata lines 2-3 equal datatrove's (same document split)", same_meta)
            else:
                rep.info("per-file document counts differ from datatrove's split (compared concatenated only)")

    # ---- (b) ids against Python tokenizers
    if args.input:
        starts = np.concatenate([[0], AE[:-1]]) if len(AE) else AE
        mism, first = 0, None
        n = min(len(docs), len(AE))
        B = 1000
        for b0 in range(0, n, B):
            encs = tok_text.encode_batch([t for _, t in docs[b0 : b0 + B]], add_special_tokens=False)
            for j, enc in enumerate(encs):
                i = b0 + j
                want = ([bos] if with_bos else []) + enc.ids + ([eos] if eos is not None else [])
                got = A[starts[i] : AE[i]]
                if len(got) != len(want) or not np.array_equal(got, np.asarray(want, dtype=got.dtype)):
                    mism += 1
                    if first is None:
                        w = np.asarray(want, dtype=np.int64)
                        p = first_diff(got.astype(np.int64), w)
                        first = (
                            f"document {i} (id {docs[i][0]!r}), token {p}: atelier {got[max(0, p - 2):p + 4].tolist()} "
                            f"{[tok.id_to_token(int(x)) for x in got[p:p + 4]]} vs tokenizers {want[max(0, p - 2):p + 4]} "
                            f"{[tok.id_to_token(int(x)) for x in want[p:p + 4]]}; lengths {len(got)} vs {len(want)}; "
                            f"literal special token {literal[i]}; "
                            f"text {docs[i][1][:80]!r}"
                        )
        ok = mism == 0 and len(docs) == len(AE)
        rep.check(
            "(b) ids = tokenizers encode(text, add_special_tokens=False) + EOS with encode_special_tokens=True, per document",
            ok,
            f"{n} compared ({sum(literal[:n])} with literal special tokens), {mism} differ; documents atelier {len(AE)} vs input {len(docs)}"
            + (f"; first: {first}" if first else ""),
        )
        try:
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "PyTorch was not found"
            from transformers import PreTrainedTokenizerFast

            hf = PreTrainedTokenizerFast(tokenizer_file=str(tok_path))
            k = min(200, len(docs))
            bad = sum(
                hf(docs[i][1], add_special_tokens=False)["input_ids"] != tok.encode(docs[i][1], add_special_tokens=False).ids
                for i in range(k)
            )
            rep.check("(b) transformers PreTrainedTokenizerFast loads tokenizer.json, same ids", bad == 0, f"{k} texts, {bad} differ")
        except ImportError:
            rep.info("transformers not installed: loading check skipped")

    # ---- (c) megatron
    mg_shards = load_shards(out, index, split, "megatron", rep)
    m_all = []
    for s, p in mg_shards:
        idx = p.with_suffix(".idx")
        if not rep.check(f"(c) {p.name} has its .idx", idx.is_file()):
            continue
        m = read_megatron(p, idx)
        n = m["sequence_count"]
        want_code = 4 if token_size == 4 else 8
        itemsize = m["dtype"].itemsize
        ptr = np.concatenate([[0], np.cumsum(m["lengths"], dtype=np.int64)[:-1]]) * itemsize if n else np.zeros(0, np.int64)
        ok = (
            m["version"] == 1
            and m["code"] == want_code
            and m["document_count"] == n + 1
            and np.array_equal(m["document_indices"], np.arange(n + 1))
            and np.array_equal(m["pointers"], ptr)
            and m["bin_bytes"] == int(m["lengths"].sum()) * itemsize
            and m["trailing_bytes"] == 0
        )
        rep.check(
            f"(c) {idx.name} structure",
            ok,
            f"version {m['version']}, dtype code {m['code']} (want {want_code}), {n} sequences, {m['document_count']} document indices, "
            f"{m['bin_bytes']} .bin bytes, {m['trailing_bytes']} trailing .idx bytes",
        )
        rep.check(f"(c) index shard rank {s.get('rank')}: documents/tokens", s.get("documents") == n and s.get("tokens") == len(m["tokens"]),
                  f"index {s.get('documents')}/{s.get('tokens')}, files {n}/{len(m['tokens'])}")
        r = s.get("rank")
        if r in a_rank:
            toks, ends = a_rank[r]
            lens = np.diff(np.concatenate([[0], ends.astype(np.int64)]))
            same = np.array_equal(m["tokens"].astype(np.int64), toks.astype(np.int64)) and np.array_equal(m["lengths"].astype(np.int64), lens)
            rep.check(f"(c) megatron rank {r} documents = datatrove layout rank {r}", same, f"{n} documents")
        m_all.append((p, idx, m))
    if dt is not None and (dt / "megatron").is_dir() and m_all and may_differ:
        dms = [read_megatron(d, d.with_suffix(".idx")) for d in part_files(dt / "megatron", ".bin")]
        MA = np.concatenate([m["tokens"] for _, _, m in m_all])
        MAE = np.cumsum(np.concatenate([m["lengths"] for _, _, m in m_all]).astype(np.int64))
        MD = np.concatenate([m["tokens"] for m in dms]) if dms else np.zeros(0, np.uint16)
        MDE = np.cumsum(np.concatenate([m["lengths"] for m in dms]).astype(np.int64)) if dms else np.zeros(0, np.int64)
        compare_documents(rep, "(c) megatron:", MA, MAE, MD, MDE, literal, lambda i: want_ids(docs[i][1], tok), show_doc)
    elif dt is not None and (dt / "megatron").is_dir() and m_all:
        dbins = part_files(dt / "megatron", ".bin")
        cat_a = b"".join(p.read_bytes() for p, _, _ in m_all)
        cat_d = b"".join(p.read_bytes() for p in dbins)
        rep.check("(c) megatron .bin bytes identical to datatrove's MegatronDocumentTokenizer (concatenated)", cat_a == cat_d,
                  f"{len(cat_a)} vs {len(cat_d)} bytes")
        if len(dbins) == len(m_all):
            same_idx = [p_idx.read_bytes() == d.with_suffix(".idx").read_bytes() for (_, p_idx, _), d in zip(m_all, dbins)]
            if all(m["sequence_count"] == read_megatron(d, d.with_suffix(".idx"))["sequence_count"] for (_, _, m), d in zip(m_all, dbins)):
                rep.check("(c) megatron .idx bytes identical to datatrove's", all(same_idx))

    # ---- (d) llm.c and raw
    for layout in ("llmc", "llmc-raw"):
        shards = load_shards(out, index, split, layout, rep)
        cat = []
        for s, p in shards:
            r = s.get("rank")
            if layout == "llmc":
                h = read_llmc(p)
                itemsize = h["dtype"].itemsize if h["dtype"] is not None else 0
                want = (20240520, 1) if token_size == 2 else (20240801, 7)
                ok = (
                    (h["magic"], h["version"]) == want
                    and h["header_rest_zero"]
                    and h["tokens"] is not None
                    and h["size"] == 1024 + h["count"] * itemsize
                )
                rep.check(f"(d) {layout}/{p.name} header", ok,
                          f"magic {h['magic']}, version {h['version']}, count {h['count']}, size {h['size']}, rest of header zero {h['header_rest_zero']}")
                if h["count"] == 0:
                    rep.info(f"{p.name}: 0 tokens (llm.c's DataLoader asserts ntok > 0)")
                toks = h["tokens"] if h["tokens"] is not None else np.zeros(0, token_dtype(token_size))
            else:
                size = p.stat().st_size
                rep.check(f"(d) {layout}/{p.name} size is a multiple of {token_size}", size % token_size == 0)
                toks = np.fromfile(p, dtype=token_dtype(token_size))
            rep.check(f"(d) index shard {layout} rank {r}: tokens", s.get("tokens") == len(toks), f"index {s.get('tokens')}, file {len(toks)}")
            if r in a_rank:
                rep.check(f"(d) {layout} rank {r} tokens = datatrove layout rank {r}",
                          np.array_equal(toks.astype(np.int64), a_rank[r][0].astype(np.int64)), f"{len(toks)} tokens")
            cat.append(toks)
        if shards:
            C = np.concatenate(cat)
            rep.check(f"(d) {layout} stream = datatrove layout stream", np.array_equal(C.astype(np.int64), A.astype(np.int64)),
                      f"{len(C)} vs {len(A)} tokens")

    summary = {"ok": not rep.failures, "failures": rep.failures, "documents": int(len(AE)), "tokens": int(len(A)),
               "literal_special_documents": int(sum(literal)), "literal_specials_may_differ": bool(may_differ), "checks": rep.results}
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{'ALL CHECKS PASSED' if not rep.failures else f'{len(rep.failures)} CHECK(S) FAILED'}")
    return 0 if not rep.failures else 1


# ----------------------------------------------------------------------------- bigdoc

GPT2_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"


def chunking_is_exact(tj: dict):
    """Whether cutting "x\n|\ny" (letters x, y) leaves tokenizers' ids unchanged for this
    tokenizer.json (see the module docstring): (ok, reason)."""
    if tj.get("normalizer") is not None:
        return False, f"normalizer {tj['normalizer']}"
    if (tj.get("model") or {}).get("type") != "BPE":
        return False, "not BPE"
    pre = tj.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    regex_seen = False
    for st in steps:
        t = st.get("type")
        if t == "Split" and st.get("behavior") == "Isolated" and not st.get("invert"):
            pat = (st.get("pattern") or {}).get("Regex")
            if pat == "\\p{N}":
                continue
            if pat in (GPT2_REGEX, GPT2_REGEX + "|\\s+"):
                regex_seen = True
                continue
            return False, f"split pattern {pat!r}"
        if t == "Digits":
            continue
        if t == "ByteLevel":
            regex_seen |= bool(st.get("use_regex", True))
            continue
        return False, f"pre-tokenizer step {st}"
    return (True, "ok") if regex_seen else (False, "no GPT-2 regex split")


def cut_points(text: str, every: int):
    """Cut positions p (a chunk ends at p): in "x\n\ny" with letters x, y, between the two
    newlines; the first such place at least `every` characters after the previous cut."""
    import unicodedata

    cuts, pos = [], every
    while pos < len(text):
        p = text.find("\n\n", pos)
        while p != -1 and not (p >= 1 and p + 2 < len(text) and unicodedata.category(text[p - 1])[0] == "L"
                               and unicodedata.category(text[p + 2])[0] == "L"):
            p = text.find("\n\n", p + 1)
        if p == -1:
            break
        cuts.append(p + 1)
        pos = p + 1 + every
    return cuts


def encode_chunked(tok, text: str, cuts, batch: int):
    bounds = [0] + cuts + [len(text)]
    out = []
    for b0 in range(0, len(bounds) - 1, batch):
        pieces = [text[bounds[k]:bounds[k + 1]] for k in range(b0, min(b0 + batch, len(bounds) - 1))]
        for enc in tok.encode_batch(pieces, add_special_tokens=False):
            out.append(np.asarray(enc.ids, dtype=np.uint32))
    return np.concatenate(out) if out else np.zeros(0, np.uint32)


def cmd_bigdoc(args) -> int:
    import resource
    import time

    from tokenizers import Tokenizer

    rep = Report()
    out = args.atelier.resolve()
    tok_path = out / "tokenizer.json"
    tj = json.loads(tok_path.read_text(encoding="utf-8"))
    tok = Tokenizer.from_file(str(tok_path))
    tok.encode_special_tokens = True
    index = json.loads((out / "index.json").read_text())
    eos = tok.token_to_id(args.eos) if args.eos else index.get("tokenizer", {}).get("eos")
    token_size = {"uint16": 2, "uint32": 4}.get(index.get("dtype"), token_size_for(tok.get_vocab_size(with_added_tokens=True)))

    ok, why = chunking_is_exact(tj)
    if not rep.check("bigdoc: the tokenizer's settings make chunking at \\n\\n between letters exact", ok, why):
        return 1
    with open(args.input, encoding="utf-8") as f:
        lines = f.readlines()
    texts = [json.loads(x).get("text") or "" for x in lines]
    rep.check("bigdoc: the input is one document", len(texts) == 1, f"{len(texts)} lines")
    text = texts[0]
    specials = special_contents(tok)
    lit = has_literal_special(text, specials)
    rep.info(f"text: {len(text.encode('utf-8')):,} bytes, {len(text):,} characters; literal special tokens: {lit}")

    shards = [s for s in index.get("shards", []) if s.get("layout") == "datatrove"]
    A = np.concatenate([read_ds(out / [f for f in s["files"] if f.endswith(".ds")][0], token_size)[0] for s in shards])
    ends = [read_ds(out / [f for f in s["files"] if f.endswith(".ds")][0], token_size)[1] for s in shards]
    rep.check("bigdoc: atelier wrote one document", sum(len(e) for e in ends) == 1, f"{sum(len(e) for e in ends)} documents, {len(A):,} tokens")

    # the chunking against one whole encode, on windows (from a cut to a cut) at the start,
    # the middle and the end of the text
    t0 = time.perf_counter()
    cuts = cut_points(text, args.chunk_chars)
    lens = np.diff([0] + cuts + [len(text)])
    rep.info(f"{len(cuts) + 1} chunks, {int(lens.min()):,} to {int(lens.max()):,} characters (median {int(np.median(lens)):,})")
    bounds = [0] + cuts + [len(text)]
    for where, start in (("start", 0), ("middle", len(text) // 2), ("end", max(0, len(text) - args.validate_chars))):
        a = min(b for b in bounds if b >= start) if start else 0
        inner = [b for b in bounds if a < b <= a + args.validate_chars]
        if len(inner) < 2:
            rep.info(f"no window of several chunks at the {where}: chunking not validated there")
            continue
        z = inner[-1]
        whole = np.asarray(tok.encode(text[a:z], add_special_tokens=False).ids, dtype=np.uint32)
        chunked = encode_chunked(tok, text[a:z], [b - a for b in inner[:-1]], args.batch)
        rep.check(f"bigdoc: chunked encode = one whole encode, window at the {where}", np.array_equal(whole, chunked),
                  f"characters {a:,} to {z:,}, {len(inner) - 1} cuts, {len(whole):,} vs {len(chunked):,} tokens")

    ids = encode_chunked(tok, text, cuts, args.batch)
    py_s = time.perf_counter() - t0
    want = np.concatenate([ids, np.asarray([eos] if eos is not None else [], dtype=np.uint32)])
    fd = first_diff(A.astype(np.uint32), want)
    rep.check(
        "bigdoc: atelier's ids = tokenizers' (encode_special_tokens=True, chunked) + EOS",
        fd is None,
        f"{len(A):,} vs {len(want):,} tokens" + (f"; first difference at token {fd}: atelier {A[max(0, fd - 3):fd + 4].tolist()} "
                                                  f"tokenizers {want[max(0, fd - 3):fd + 4].tolist()}" if fd is not None else ""),
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rep.info(f"Python check: {py_s:.1f} s, max RSS {rss:,.0f} MiB")
    summary = {"ok": not rep.failures, "failures": rep.failures, "text_bytes": len(text.encode("utf-8")), "characters": len(text),
               "chunks": len(cuts) + 1, "tokens_atelier": int(len(A)), "tokens_tokenizers": int(len(want)),
               "python_s": round(py_s, 1), "python_max_rss_mib": round(rss), "checks": rep.results}
    if args.json_out:
        args.json_out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"{'ALL CHECKS PASSED' if not rep.failures else f'{len(rep.failures)} CHECK(S) FAILED'}")
    return 0 if not rep.failures else 1


# ----------------------------------------------------------------------------- expected


def cmd_expected(args) -> int:
    from tokenizers import Tokenizer

    dt = args.datatrove.resolve()
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copyfile(args.tokenizer, out / "tokenizer.json")
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    ts = token_size_for(vocab)
    layouts = args.layout or list(LAYOUTS)
    shards = []
    for rank, p in enumerate(part_files(dt / "datatrove", ".ds")):
        toks, ends = read_ds(p, ts)
        base = f"part-{rank:05d}"
        for layout in layouts:
            if layout == "datatrove":
                f = out / "datatrove" / "train" / f"{base}.ds"
                write_ds(f, toks, ends, "tokenizer.json", ts)
                files = [f"datatrove/train/{base}.ds", f"datatrove/train/{base}.ds.index", f"datatrove/train/{base}.ds.metadata"]
            elif layout in ("llmc", "llmc-raw"):
                f = out / layout / "train" / f"{base}.bin"
                write_llmc(f, toks, ts, header=layout == "llmc")
                files = [f"{layout}/train/{base}.bin"]
            elif layout == "megatron":
                f = out / "megatron" / "train" / f"{base}.bin"
                write_megatron(f, toks, ends, ts)
                files = [f"megatron/train/{base}.bin", f"megatron/train/{base}.idx"]
            else:
                sys.exit(f"unknown layout {layout}")
            shards.append({"layout": layout, "split": "train", "rank": rank, "files": files, "documents": int(len(ends)), "tokens": int(len(toks))})
    index = {
        "format": 1,
        "dtype": "uint32" if ts == 4 else "uint16",
        "tokenizer": {
            "hash": hashlib.sha256((out / "tokenizer.json").read_bytes()).hexdigest(),
            "vocab_size": vocab,
            "eos": tok.token_to_id(args.eos) if args.eos else None,
            "bos": tok.token_to_id(args.bos) if args.bos else None,
        },
        "settings": {"eos": args.eos, "bos": args.bos, "layouts": layouts, "source": "datatrove (compare.py expected)"},
        "shards": shards,
    }
    (out / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(f"wrote {out} ({len(shards)} shards)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--atelier", type=Path, required=True)
    c.add_argument("--datatrove", type=Path, default=None)
    c.add_argument("--input", type=Path, nargs="*", default=[])
    c.add_argument("--eos", default=None)
    c.add_argument("--bos", default=None)
    c.add_argument("--split", default="train")
    c.add_argument("--literal-specials-may-differ", action="store_true",
                   help="compare (a) and (c) with datatrove per document; only documents with literal special tokens may differ")
    c.add_argument("--json-out", type=Path, default=None)
    g = sub.add_parser("bigdoc")
    g.add_argument("--atelier", type=Path, required=True)
    g.add_argument("--input", type=Path, required=True)
    g.add_argument("--eos", default=None)
    g.add_argument("--chunk-chars", type=int, default=100_000)
    g.add_argument("--validate-chars", type=int, default=3_000_000, help="size of each window encoded whole")
    g.add_argument("--batch", type=int, default=40, help="chunks per encode_batch")
    g.add_argument("--json-out", type=Path, default=None)
    e = sub.add_parser("expected")
    e.add_argument("--datatrove", type=Path, required=True)
    e.add_argument("--tokenizer", type=Path, required=True)
    e.add_argument("--eos", default=None)
    e.add_argument("--bos", default=None)
    e.add_argument("--layout", action="append", default=[])
    e.add_argument("-o", "--out", type=Path, required=True)
    s = sub.add_parser("selftest")
    s.add_argument("--datatrove", type=Path, required=True)
    s.add_argument("--tokenizer", type=Path, required=True)
    s.add_argument("--eos", default=None)
    s.add_argument("--bos", default=None)
    s.add_argument("--input", type=Path, nargs="*", default=[])
    args = ap.parse_args()
    if args.cmd == "check":
        return cmd_check(args)
    if args.cmd == "expected":
        return cmd_expected(args)
    if args.cmd == "bigdoc":
        return cmd_bigdoc(args)
    args.out = args.datatrove / "expected"
    args.layout = []
    cmd_expected(args)
    args.atelier = args.out
    args.split = "train"
    args.json_out = None
    args.literal_specials_may_differ = False
    return cmd_check(args)


if __name__ == "__main__":
    sys.exit(main())
