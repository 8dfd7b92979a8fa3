#!/usr/bin/env python3
"""Builds a WARC of HTTP response records from the shared extraction pages.

Usage: make_warc.py OUT.warc[.gz] TARGET_MB [SET...]

The pages of the SETs under ../shared/data/extraction (default: wcxb-dev, 499 pages) are
repeated (with distinct record ids and URLs) until the file reaches TARGET_MB; a
TARGET_MB of 0 writes each page once. A `.gz` name writes one gzip member per record, as
Common Crawl serves its WARCs.
"""
import gzip
import os
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
EXTRACTION = os.path.join(HERE, "..", "..", "..", "shared", "data", "extraction")


def record(i, page_name, html):
    http = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        + b"Content-Length: " + str(len(html)).encode() + b"\r\n\r\n" + html
    )
    rid = uuid.UUID(int=i)
    head = (
        "WARC/1.1\r\n"
        "WARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{rid}>\r\n"
        "WARC-Date: 2024-05-01T12:00:00Z\r\n"
        f"WARC-Target-URI: https://wcxb.example/{i}/{page_name}\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        "WARC-Identified-Payload-Type: text/html\r\n"
        f"Content-Length: {len(http)}\r\n\r\n"
    ).encode()
    return head + http + b"\r\n\r\n"


def main():
    out, target_mb = sys.argv[1], float(sys.argv[2])
    pages = []
    for name in sys.argv[3:] or ["wcxb-dev"]:
        folder = os.path.join(EXTRACTION, name, "html")
        for n in sorted(n for n in os.listdir(folder) if n.endswith(".html.gz")):
            pages.append((n.split(".")[0], gzip.open(os.path.join(folder, n)).read()))
    target = int(target_mb * 1e6)
    compress = out.endswith(".gz")
    written, i = 0, 0
    with open(out, "wb") as f:
        while written < target or (target == 0 and i < len(pages)):
            name, html = pages[i % len(pages)]
            rec = record(i, name, html)
            data = gzip.compress(rec, compresslevel=6, mtime=0) if compress else rec
            f.write(data)
            written += len(data)
            i += 1
    print(f"{out}: {i} records, {written / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
