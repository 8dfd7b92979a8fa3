#!/usr/bin/env bash
# Crawl throughput on the loopback, atelier against wget --warc-file, on the same
# generated site served by Debian's nginx; then the peak memory of a crawl whose
# frontier holds 1 M URLs. Needs nginx, wget, python3, /usr/bin/time.
# Usage: bench/fetch/crawl.sh [PAGES]   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
pages=${1:-20000}
work=$(mktemp -d)
trap 'kill $(cat $work/nginx.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet -p atelier-fetch --example crawl
crawl=${CARGO_TARGET_DIR:-target}/release/examples/crawl

# The site: a binary tree of pages of ~2.3 KB, and /d/, a site without end whose every
# page links to 1,000 new pages (for the frontier of 1 M URLs).
python3 - "$work/site" "$pages" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{root}/pages", exist_ok=True)
open(f"{root}/index.html", "w").write('<html><body><a href="/pages/p0.html">start</a></body></html>')
for i in range(n):
    links = "".join(f'<a href="p{c}.html">page {c}</a>\n' for c in (2*i+1, 2*i+2) if c < n)
    text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 36
    open(f"{root}/pages/p{i}.html", "w").write(
        f"<!doctype html><html><head><title>page {i}</title></head><body><h1>Page {i}</h1><p>{text}</p>\n{links}</body></html>\n")
open(f"{root}/fanout.html", "w").write(
    "<html><body>" + "".join(f'<a href="k{j}/">{j}</a>\n' for j in range(1000)) + "</body></html>")
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<CONF
worker_processes 2;
daemon on;
pid $work/nginx.pid;
error_log $work/error.log warn;
$( [ "$(id -u)" = 0 ] && echo 'user root;' )
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/body; proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fcgi; uwsgi_temp_path $work/uwsgi; scgi_temp_path $work/scgi;
  types { text/html html; }
  server {
    listen 127.0.0.1:$port;
    root $work/site;
    location /d/ { try_files /fanout.html =404; }
  }
}
CONF
nginx -p "$work" -c "$work/nginx.conf"
base=http://127.0.0.1:$port
site_bytes=$(du -sb --apparent-size "$work/site/pages" | cut -f1)

measure() { # name, command...: wall seconds and peak RSS
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/$name.out" 2> "$work/$name.err" || { cat "$work/$name.err"; exit 1; }
  read -r wall rss < "$work/time"
  echo "$wall $rss"
}
row() { # name wall rss warc_dir
  local pages_done=$((pages + 1))
  local warc=$(du -cb "$4"/*.warc.gz | tail -1 | cut -f1)
  python3 -c "import sys; n,w,r,b,s=sys.argv[1:]; print(f'| {n} | {float(w):.2f} | {$pages_done/float(w):.0f} | {int(b)/float(w)/1e6:.1f} | {int(r)/1024:.0f} | {int(s)/1e6:.1f} |')" \
    "$1" "$2" "$3" "$site_bytes" "$warc"
}

echo "pages: $pages ($(python3 -c "print(f'{$site_bytes/1e6:.1f}')") MB of HTML), $(nproc) cores, $(uname -srm)"
echo
echo "| crawler | wall s | pages/s | MB/s (payload) | peak RSS MiB | WARC MB |"
echo "| --- | --- | --- | --- | --- | --- |"
mkdir -p "$work/wget"
read -r wall rss < <(measure wget wget --recursive --level=inf --no-parent --no-verbose --delete-after \
  --no-directories -P "$work/wget/dl" --warc-file="$work/wget/site" --no-warc-keep-log -e robots=on "$base/index.html")
row "wget 1.x --warc-file (1 connection)" "$wall" "$rss" "$work/wget"
for conns in 1 4; do
  out=$work/atelier-$conns
  config="{\"seeds\": [\"$base/index.html\"], \"delay_secs\": 0, \"concurrency\": $conns, \"max_connections_per_host\": $conns}"
  read -r wall rss < <(measure atelier-$conns "$crawl" "$out" "$config")
  row "atelier ($conns connection(s))" "$wall" "$rss" "$out"
done

echo
echo "Frontier of 1 M URLs: /d/ pages each link to 1,000 new ones; 1,001 pages fetched, then the limit."
out=$work/fanout
config="{\"seeds\": [\"$base/d/\"], \"delay_secs\": 0, \"concurrency\": 4, \"max_connections_per_host\": 4, \"max_pages\": 1001}"
read -r wall rss < <(measure fanout "$crawl" "$out" "$config")
pending=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['pending'])" "$work/fanout.out")
echo "wall $wall s, peak RSS $((rss / 1024)) MiB, URLs left in the frontier: $pending, frontier.redb $(du -b "$out/frontier.redb" | cut -f1 | awk '{printf "%.0f MB", $1/1e6}')"
