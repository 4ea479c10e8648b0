#!/usr/bin/env bash
# Open and click endpoints under load: `wrk` against `/t/o/…` and `/t/c/…` URLs taken from a
# real campaign's mail, with every hit stored durably (SQLite, group commit), against a baseline
# measured in the same run on the same server: a tampered token (`/t/o/…` that fails its
# signature), which goes through the same routing, rate limit and token check but stores
# nothing. Afterwards the stored counts are compared with wrk's request count, so a figure
# that lost events would show.
#
# Usage: benches/track-load.sh      (N=2000 recipients, T=2 wrk threads, C=64 connections,
#                                    S=20 seconds per run)
# Needs wrk and postfix's smtp-sink (for the campaign's mail).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-2000}; T=${T:-2}; C=${C:-64}; S=${S:-20}
SINK=${SINK:-28611}; SMTP=${SMTP:-28612}; WEB=${WEB:-28613}
cargo build --release -q -p etraq-cli
ETRAQ="$PWD/target/release/etraq"
D=$(mktemp -d -p /var/tmp)
chmod 755 "$D" && mkdir -p "$D/dumps" && chmod 777 "$D/dumps"
smtp-sink -u nobody -D "$D/dumps/mail" 127.0.0.1:$SINK 64 & SINK_PID=$!
SERVE_PID=
trap 'kill $SINK_PID $SERVE_PID 2>/dev/null || true; rm -rf "$D"' EXIT
sleep 0.3
cd "$D"
cat > etraq.toml <<T
local_domains = ["example.com"]
[store]
url = "sqlite:data/etraq.db"
[smtp]
listen = "127.0.0.1:$SMTP"
[upstream]
host = "127.0.0.1"
port = $SINK
[web]
listen = "127.0.0.1:$WEB"
public_rate_per_ip = 1000000
[campaigns]
relay = "127.0.0.1:$SINK"
rate_per_second = 100000
public_url = "http://127.0.0.1:$WEB"
T
python3 - "$N" > people.csv <<'PY'
import sys
print("email,name")
for i in range(int(sys.argv[1])):
    print(f"person{i}@customer{i % 300}.test,Person {i}")
PY
E() { "$ETRAQ" --config etraq.toml "$@"; }
E list create News >/dev/null
E subscriber import people.csv --list News --json >/dev/null
E campaign create Bench --list News --template newsletter >/dev/null
E campaign run Bench --json >/dev/null
# Every open pixel and every link of the text parts (the honeypot is only in the HTML part).
python3 - dumps > urls.txt <<'PY'
import email, email.policy, os, re, sys
d = sys.argv[1]
out = []
for f in os.listdir(d):
    raw = open(os.path.join(d, f), "rb").read()
    for chunk in re.split(rb"(?m)^(?=X-Client-Addr: )", raw):
        if not chunk.strip():
            continue
        msg = email.message_from_bytes(chunk, policy=email.policy.default)
        for part in msg.walk():
            ct = part.get_content_type()
            if ct not in ("text/plain", "text/html"):
                continue
            body = part.get_content()
            kind = "c" if ct == "text/plain" else "o"
            out += re.findall(r"http://[^/\s\"]+(/t/%s/[A-Za-z0-9_-]+)" % kind, body)
print("\n".join(out))
PY
test -s urls.txt || { echo "no tracking URLs in the campaign's mail" >&2; exit 1; }
cat > urls.lua <<'LUA'
local paths = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["User-Agent"] =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"})
end
LUA
"$ETRAQ" --config etraq.toml serve > serve.log 2>&1 & SERVE_PID=$!
[ -n "${KEEP_LOG:-}" ] && trap 'kill $SINK_PID $SERVE_PID 2>/dev/null || true; cp "$D/serve.log" "$KEEP_LOG"; rm -rf "$D"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$WEB/login" && break; sleep 0.1; done
# Hits this soon after the send are flagged as machines (the too-soon rule), but every one is
# stored all the same, which is what is measured.
run() { wrk -t"$T" -c"$C" -d"${S}s" --latency "$@" 2>&1; }
BAD="/t/o/AQAAAAAAAAABAAAAAAAAAAIAAMy-IhOs-vmJxxxx"
echo "== baseline: a tampered token (404, nothing stored)"; run "http://127.0.0.1:$WEB$BAD" | tee base.txt
if [ -n "${PROFILE:-}" ]; then
  # PROFILE=1: where the server spends its time while the hits are stored.
  perf record -g -o "$D/perf.data" -p "$SERVE_PID" -- sleep "$S" >/dev/null 2>&1 &
  PERF=$!
elif [ -n "${STRACE:-}" ]; then
  # STRACE=1: the server's system calls while the hits are stored.
  timeout -s INT "$S" strace ${STRACE_ARGS:--c} -f -p "$SERVE_PID" -o "$D/strace.txt" >/dev/null 2>&1 &
  PERF=$!
fi
# A short warm-up first (read connections opened, blocking threads started, pages mapped),
# stored like any other hits.
wrk -t"$T" -c"$C" -d3s -s urls.lua "http://127.0.0.1:$WEB" -- "$D/urls.txt" > warmup.txt 2>&1
echo "== opens and clicks ($(wc -l < urls.txt) URLs, each hit stored)"; run -s urls.lua "http://127.0.0.1:$WEB" -- "$D/urls.txt" | tee hits.txt
if [ -n "${PROFILE:-}" ]; then
  wait "$PERF" || true
  perf report -i "$D/perf.data" ${PERF_REPORT:---no-children --percent-limit 1.5} --stdio 2>/dev/null | grep -v "^$" | head -${PERF_LINES:-80}
elif [ -n "${STRACE:-}" ]; then
  wait "$PERF" || true; sleep 1
  ${STRACE_SHOW:-head -25} "$D/strace.txt"
fi
sleep 1
E campaign show Bench --json > counts.json
python3 - <<'PY'
import json, re
def rps(f):
    t = open(f).read()
    r = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    n = int(re.search(r"(\d+) requests in", t).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
    v = float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return r, n, v, int(bad.group(1)) if bad else 0
br, bn, bp, _ = rps("base.txt")
hr, hn, hp, hbad = rps("hits.txt")
c = json.load(open("counts.json"))
stored = c["opens"] + c["clicks"]
print(f"baseline (tampered token): {br:,.0f} req/s, p99 {bp:.2f} ms")
print(f"stored hits: {hr:,.0f} events/s, p99 {hp:.2f} ms, {hbad} non-2xx/3xx")
print(f"hits / baseline: {hr / br * 100:.1f}%")
wn = int(re.search(r"(\d+) requests in", open("warmup.txt").read()).group(1))
print(f"wrk counted {wn + hn:,} requests (warm-up included); the store holds {stored:,} (opens {c['opens']:,}, clicks {c['clicks']:,})")
PY
