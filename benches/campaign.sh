#!/usr/bin/env bash
# `etraq campaign run` into smtp-sink, against smtp-source into the same sink in the same run
# (the baseline: the fastest a client can hand this sink mail), and the sender's peak RSS.
#
# Usage: benches/campaign.sh        (N=10000 recipients, C=4 concurrency, L=5000 bytes per mail)
# Needs postfix's smtp-source and smtp-sink, and /usr/bin/time for the RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}; C=${C:-4}; L=${L:-5000}
PORT=${PORT:-28501}
cargo build --release -q -p etraq-cli
ETRAQ="$PWD/target/release/etraq"
D=$(mktemp -d -p /var/tmp)
smtp-sink -u nobody 127.0.0.1:$PORT 256 & SINK=$!
trap 'kill $SINK 2>/dev/null || true; rm -rf "$D"' EXIT
sleep 0.3
cd "$D"
cat > etraq.toml <<T
local_domains = ["example.com"]
[store]
url = "sqlite:data/etraq.db"
[campaigns]
relay = "127.0.0.1:$PORT"
rate_per_second = 100000
concurrency = $C
T
python3 - "$N" > people.csv <<'PY'
import sys
print("email,name,country")
for i in range(int(sys.argv[1])):
    print(f"person{i}@customer{i % 300}.test,Person {i},DE")
PY
E() { "$ETRAQ" --config etraq.toml "$@"; }
E list create News >/dev/null
E subscriber import people.csv --list News --json >/dev/null
E campaign create Bench --list News --template newsletter >/dev/null
now() { date +%s.%N; }
t0=$(now); smtp-source -s "$C" -m "$N" -l "$L" -f a@example.com -t b@customer.test 127.0.0.1:$PORT; t1=$(now)
t2=$(now); /usr/bin/time -v "$ETRAQ" --config etraq.toml campaign run Bench --json > report.json 2> time.txt; t3=$(now)
python3 - "$N" "$C" "$t0" "$t1" "$t2" "$t3" <<'PY'
import json, sys
n, c = int(sys.argv[1]), sys.argv[2]
t0, t1, t2, t3 = map(float, sys.argv[3:7])
src, run = n / (t1 - t0), n / (t3 - t2)
rep = json.load(open("report.json"))
rss = next((int(l.split()[-1]) / 1024 for l in open("time.txt") if "Maximum resident" in l), 0)
print(f"== {n} recipients, concurrency {c}")
print(f"   smtp-source -> smtp-sink: {src:,.0f} msg/s")
print(f"   etraq campaign run -> smtp-sink: {run:,.0f} msg/s (sent {rep['sent']}, failed {rep['failed']})")
print(f"   campaign / smtp-source: {run / src * 100:.1f}%")
print(f"   etraq peak RSS: {rss:.1f} MB")
PY
