#!/usr/bin/env bash
# Where `etraq serve` spends a mail: the system calls per mail (strace -c -f) and, with PERF=1, a
# CPU profile (perf record -g), under the same load as benches/smtp-load.sh: smtp-source with S
# sessions and L-byte mails, relayed to smtp-sink, SQLite with synchronous=FULL on the real disk.
#
# Usage: benches/profile-gateway.sh            (N=2000 S=20 L=5000; PERF=1 adds the profile;
#                                               PIPE=1 K=100 loads with a pipelining client
#                                               that sends K mails per connection instead)
# Needs strace (and linux-perf for PERF=1) and postfix's smtp-source/smtp-sink; Debian:
#   apt-get install strace linux-perf postfix
# Prints a table per mail: pwrite64, pread64, fsync (and mails per fsync), futex, sendto,
# recvfrom, and every other call made at least once per mail. strace stops etraq at every system
# call and slows it about threefold, which changes how many mails each commit groups; so when
# perf is there, a second pass counts fsync, pwrite64 and sendto at full speed (perf stat on the
# kernel's syscall tracepoints) and prints mails per fsync from that.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-2000}
S=${S:-20}
L=${L:-5000}
BASE=${BASE_PORT:-27020}
SINK=$((BASE + 1)); PORT=$((BASE + 3))

for t in strace smtp-source smtp-sink python3; do
    command -v "$t" >/dev/null || { echo "$t is needed (see the header of this script)"; exit 1; }
done
ulimit -n 8192
cargo build --release -q -p etraq-cli
ETRAQ="$PWD/target/release/etraq"

DISK=$(mktemp -d -p /var/tmp)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$DISK"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open"; exit 1; }

smtp-sink -u nobody 127.0.0.1:$SINK 256 &
PIDS+=($!)
wait_port $SINK
cat > "$DISK/etraq.toml" <<EOF
local_domains = ["example.com"]
[smtp]
listen = "127.0.0.1:$PORT"
max_connections = 2000
[upstream]
host = "127.0.0.1"
port = $SINK
[store]
url = "sqlite:data/etraq.db"
EOF
ETRAQ_LOG=warn "$ETRAQ" --config "$DISK/etraq.toml" serve 2>"$DISK/serve.log" &
EPID=$!; PIDS+=($EPID)
wait_port $PORT
SRC=(smtp-source -s "$S" -l "$L" -f sender@customer.test -t support@example.com)
if [ "${PIPE:-0}" = 1 ]; then
    # A client that pipelines (RFC 2920) and keeps its connection for K mails, as Postfix's
    # smtp client does with its connection cache: MAIL, RCPT and DATA in one write.
    SRC=(python3 "$DISK/pipelined.py" "$S" "$L" "${K:-100}")
    cat > "$DISK/pipelined.py" <<'PY'
import asyncio, sys
S, L, K = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
N, port = int(sys.argv[sys.argv.index("-m") + 1]), int(sys.argv[-1].rsplit(":", 1)[1])
body = (b"Subject: load\r\n\r\n" + b"x" * 76 + b"\r\n") * max(1, L // 78) + b".\r\n"
left = N
async def reply(r):
    while True:
        line = await r.readline()
        if not line:
            raise ConnectionError("closed")
        if line[3:4] == b" ":
            return int(line[:3])
async def session():
    global left
    while left > 0:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await reply(r)
        w.write(b"EHLO client.test\r\n"); await reply(r)
        for _ in range(K):
            if left <= 0:
                break
            left -= 1
            w.write(b"MAIL FROM:<sender@customer.test>\r\nRCPT TO:<support@example.com>\r\nDATA\r\n")
            codes = [await reply(r) for _ in range(3)]
            if codes[2] != 354:
                raise RuntimeError(f"refused: {codes}")
            w.write(body)
            if await reply(r) != 250:
                raise RuntimeError("message refused")
        w.write(b"QUIT\r\n"); await reply(r)
        w.close()
async def main():
    await asyncio.gather(*(session() for _ in range(S)))
asyncio.run(main())
PY
fi
# Warm up: the store's first pages, the runtime's threads.
"${SRC[@]}" -m 500 127.0.0.1:$PORT

# Sends the N measured mails while the tool just started in the background (pid $1) watches
# etraq, then stops the tool; t0 and t1 bracket the load.
watched() {
    sleep 0.5
    t0=$(date +%s.%N)
    "${SRC[@]}" -m "$N" 127.0.0.1:$PORT
    t1=$(date +%s.%N)
    sleep 0.3
    kill -INT "$1"; wait "$1" 2>/dev/null || true
}

strace -c -f -qq -p "$EPID" -o "$DISK/strace.txt" &
watched $!

python3 - "$DISK/strace.txt" "$N" "$S" "$t0" "$t1" <<'PY'
import sys
path, n, s, t0, t1 = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
calls = {}
for line in open(path):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] not in ("total",):
        try:
            calls[f[-1]] = int(f[3])
        except ValueError:
            pass
print(f"== {n} mails, {s} sessions, under strace: {n/(t1-t0):.0f} msg/s (strace slows it; compare calls, not rates)")
key = ["pwrite64", "pread64", "fsync", "fdatasync", "futex", "sendto", "recvfrom", "write", "read", "epoll_wait"]
print(f"   {'call':<14}{'per mail':>10}")
for k in key:
    if k in calls:
        print(f"   {k:<14}{calls[k]/n:>10.2f}")
syncs = calls.get("fsync", 0) + calls.get("fdatasync", 0)
if syncs:
    print(f"   mails per fsync {n/syncs:.2f}")
rest = sorted(((v, k) for k, v in calls.items() if k not in key and v >= n), reverse=True)
for v, k in rest:
    print(f"   {k:<14}{v/n:>10.2f}")
PY

if command -v perf >/dev/null; then
    perf stat -x, -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_sendto \
        -p "$EPID" -o "$DISK/stat.txt" &
    watched $!
    python3 - "$DISK/stat.txt" "$N" "$t0" "$t1" <<'PY'
import sys
path, n, t0, t1 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
counts = {}
for line in open(path):
    f = line.strip().split(",")
    if len(f) > 2 and f[2].startswith("syscalls:sys_enter_"):
        counts[f[2].removeprefix("syscalls:sys_enter_")] = int(f[0]) if f[0].isdigit() else 0
print(f"== the same at full speed (perf stat): {n/(t1-t0):.0f} msg/s")
for k in ("pwrite64", "sendto"):
    print(f"   {k:<14}{counts.get(k, 0)/n:>10.2f}")
syncs = counts.get("fsync", 0) + counts.get("fdatasync", 0)
print(f"   {'fsync':<14}{syncs/n:>10.2f}")
if syncs:
    print(f"   mails per fsync {n/syncs:.2f}")
PY
else
    echo "== (perf is not installed: no full-speed count of fsync; apt-get install linux-perf)"
fi

if [ "${PERF:-0}" = 1 ]; then
    command -v perf >/dev/null || { echo "perf is needed for PERF=1"; exit 1; }
    perf record -q -g -p "$EPID" -o "$DISK/perf.data" &
    watched $!
    echo "== perf: top symbols (self time)"
    perf report -q -i "$DISK/perf.data" --no-children --sort symbol -g none 2>/dev/null | grep -v '^$' | head -25
fi
