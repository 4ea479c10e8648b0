#!/usr/bin/env bash
# SMTP load benchmark for the gateway, in one run, for each session count in SESSIONS:
#   1. smtp-source straight into smtp-sink            (the limit)
#   2. the same through `etraq serve` relaying to the sink, durability on
#   3. the same through Postfix relaying to the sink   (the peer; its queue drains before the next step)
#   (1 and 2 alternate R times, then 3 runs R times; the medians count: the machine is noisy,
#   and Postfix's queue work, even drained, slows whatever runs right after it)
# then etraq's RSS with 1,000 idle connections and its peak RSS with 20 concurrent 10 MB messages,
# and a table: each rate, etraq / Postfix and etraq / sink.
#
# Usage: benches/smtp-load.sh     (N=5000 SESSIONS="1 5 20 50" L=5000 R=3; override in the environment;
#                                  S=20 alone is SESSIONS=20)
# Needs root for Postfix; installs Debian's postfix (smtp-source, smtp-sink) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-5000}    # messages per measurement
SESSIONS=${SESSIONS:-${S:-"1 5 20 50"}}   # concurrent sessions, one measurement each
L=${L:-5000}    # message size in bytes
R=${R:-3}       # rounds of sink and etraq per session count (the median is reported)
BASE=${BASE_PORT:-26020}
SINK=$((BASE + 1)); PFX_PORT=$((BASE + 2)); ETRAQ_PORT=$((BASE + 3)); ETRAQ_MEM_PORT=$((BASE + 4))

if ! command -v smtp-source >/dev/null || ! command -v smtp-sink >/dev/null; then
    echo "== installing postfix (for smtp-source and smtp-sink)"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
command -v python3 >/dev/null || { echo "python3 is needed for the memory checks"; exit 1; }
ulimit -n 8192

echo "== building etraq (release)"
cargo build --release -q -p etraq-cli
ETRAQ="$PWD/target/release/etraq"

WORK=$(mktemp -d /dev/shm/etraq-load.XXXXXX 2>/dev/null || mktemp -d)
chmod 755 "$WORK"
DISK=$(mktemp -d -p /var/tmp)   # the queues and stores live on the real disk: durability is measured, not tmpfs
chmod 755 "$DISK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ -f "$DISK/postfix/etc/main.cf" ] && postfix -c "$DISK/postfix/etc" stop >/dev/null 2>&1 || true
    rm -rf "$WORK" "$DISK"
}
trap cleanup EXIT

wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open"; exit 1; }
count() { find "$WORK/sink" -type f | wc -l; }
now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1/($3-$2):.0f}')"; }

mkdir -p "$WORK/sink"; chmod 777 "$WORK/sink"
smtp-sink -u nobody -d "$WORK/sink/m." 127.0.0.1:$SINK 256 &
PIDS+=($!)
wait_port $SINK
src() { smtp-source -s "$1" -m "$2" -l "$L" -f sender@customer.test -t support@example.com "$3"; }

echo "== starting Postfix (relaying to the sink) and etraq serve"
P="$DISK/postfix"; mkdir -p "$P/etc" "$P/queue" "$P/data"
chown postfix "$P/data"
cat > "$P/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $P/queue
data_directory = $P/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.load.test
mydestination =
local_recipient_maps =
mynetworks = 127.0.0.0/8
relay_domains = example.com
relayhost = [127.0.0.1]:$SINK
smtpd_recipient_restrictions = permit_mynetworks, reject
smtp_tls_security_level = none
maillog_file = $P/maillog
maillog_file_prefixes = $P
EOF
cat > "$P/etc/master.cf" <<EOF
127.0.0.1:$PFX_PORT inet n - n - - smtpd
pickup     unix n - n 60 1 pickup
cleanup    unix n - n - 0 cleanup
qmgr       unix n - n 300 1 qmgr
rewrite    unix - - n - - trivial-rewrite
bounce     unix - - n - 0 bounce
defer      unix - - n - 0 bounce
trace      unix - - n - 0 bounce
verify     unix - - n - 1 verify
flush      unix n - n 1000? 0 flush
proxymap   unix - - n - - proxymap
smtp       unix - - n - - smtp
relay      unix - - n - - smtp
showq      unix n - n - - showq
error      unix - - n - - error
retry      unix - - n - - error
discard    unix - - n - - discard
anvil      unix - - n - 1 anvil
scache     unix - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
postfix -c "$P/etc" check >/dev/null 2>&1 || true
postfix -c "$P/etc" start >/dev/null
wait_port $PFX_PORT
E="$DISK/etraq"; mkdir -p "$E"
cat > "$E/etraq.toml" <<EOF
local_domains = ["example.com"]
[smtp]
listen = "127.0.0.1:$ETRAQ_PORT"
max_connections = 2000
[upstream]
host = "127.0.0.1"
port = $SINK
[store]
url = "sqlite:data/etraq.db"
EOF
ETRAQ_LOG=warn "$ETRAQ" --config "$E/etraq.toml" serve 2>"$E/serve.log" &
EPID=$!; PIDS+=($EPID)
wait_port $ETRAQ_PORT
# Warm up etraq (its store's first pages, its runtime's threads) and Postfix.
src 20 500 127.0.0.1:$ETRAQ_PORT
src 20 500 127.0.0.1:$PFX_PORT
while [ "$(count)" -lt 1000 ]; do sleep 0.05; done
RESULTS=()
med() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.0f}')" "$@"; }
for S in $SESSIONS; do
    echo "== $S sessions, $N messages of $L bytes; sink and etraq alternate $R times, then Postfix runs $R times (the medians count)"
    sinks=(); etraqs=(); pfxs=(); pfx_ends=()
    for r in $(seq 1 "$R"); do
        base=$(count)
        t0=$(now); src "$S" "$N" 127.0.0.1:$SINK; t1=$(now)
        sinks+=("$(rate "$N" "$t0" "$t1")")
        while [ "$(count)" -lt $((base + N)) ]; do sleep 0.05; done
        base=$(count)
        t0=$(now); src "$S" "$N" 127.0.0.1:$ETRAQ_PORT 2>>"$E/source.err"; t1=$(now)
        etraqs+=("$(rate "$N" "$t0" "$t1")")
        # etraq answers 250 only after the sink did, so every mail is there already.
        delivered=$(( $(count) - base ))
        echo "   round $r: sink alone ${sinks[-1]} msg/s, etraq ${etraqs[-1]} msg/s (at the sink: $delivered of $N)"
    done
    for r in $(seq 1 "$R"); do
        base=$(count)
        t0=$(now); src "$S" "$N" 127.0.0.1:$PFX_PORT; t1=$(now)
        while [ "$(count)" -lt $((base + N)) ]; do sleep 0.05; done; t2=$(now)
        pfxs+=("$(rate "$N" "$t0" "$t1")"); pfx_ends+=("$(rate "$N" "$t0" "$t2")")
        echo "   Postfix $r: accepted at ${pfxs[-1]} msg/s, ${pfx_ends[-1]} msg/s end to end (its queue drained before the next step)"
    done
    # Let the disk settle: Postfix's queue files (written, fsynced, deleted) otherwise still
    # occupy ext4's journal and writeback while the next measurement runs.
    sync; sleep 1
    sink_rate=$(med "${sinks[@]}"); etraq_rate=$(med "${etraqs[@]}"); pfx_accept=$(med "${pfxs[@]}")
    RESULTS+=("$S $sink_rate $pfx_accept $etraq_rate")
done
failures=$(grep -c . "$E/source.err" || true)
kill -TERM $EPID; wait $EPID || true
postfix -c "$P/etc" stop >/dev/null
stored=$(ETRAQ_STORE="sqlite:$E/data/etraq.db" "$ETRAQ" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['tracked'])")

echo "== 4. etraq memory"
M="$DISK/mem"; mkdir -p "$M"
sed -e "s/127.0.0.1:$ETRAQ_PORT/127.0.0.1:$ETRAQ_MEM_PORT/" -e 's/max_connections = 2000/max_connections = 2000\nmax_message_bytes = 26214400/' "$E/etraq.toml" > "$M/etraq.toml"
ETRAQ_LOG=warn "$ETRAQ" --config "$M/etraq.toml" serve 2>"$M/serve.log" &
MPID=$!; PIDS+=($MPID)
wait_port $ETRAQ_MEM_PORT
python3 - "$MPID" "$ETRAQ_MEM_PORT" <<'PY'
import os, socket, sys, smtplib, threading, time
pid, port = int(sys.argv[1]), int(sys.argv[2])
def status(key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
rss0 = status("VmRSS:")
socks = []
for _ in range(1000):
    s = socket.create_connection(("127.0.0.1", port))
    s.recv(512)
    socks.append(s)
time.sleep(1)
idle = status("VmRSS:")
for s in socks:
    s.close()
time.sleep(1)
size = 10 * 1024 * 1024
line = b"X" * 998 + b"\r\n"
body = b"Subject: big\r\n\r\n" + line * (size // len(line))
errors = []
def send(i):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as c:
            c.sendmail(f"big{i}@customer.test", ["support@example.com"], body.replace(b"Subject: big", f"Subject: big {i}\r\nMessage-ID: <big{i}@customer.test>".encode()))
    except Exception as e:
        errors.append(repr(e))
hwm0 = status("VmHWM:")
ts = [threading.Thread(target=send, args=(i,)) for i in range(20)]
for t in ts: t.start()
for t in ts: t.join()
peak = status("VmHWM:")
total = 20 * len(body) / 1024 / 1024
print(f"   RSS at start {rss0:.1f} MB; with 1,000 idle connections {idle:.1f} MB (target <= 100 MB)")
print(f"   peak RSS with 20 concurrent 10 MB messages: {peak:.1f} MB for {total:.0f} MB of mail = {peak/total:.2f}x (target <= 3x); send errors: {len(errors)}")
for e in errors[:3]:
    print("     ", e)
PY
kill -TERM $MPID; wait $MPID || true

echo "== summary (medians of the rounds; Postfix: the rate it accepted at)"
printf '%s\n' "${RESULTS[@]}" | python3 -c "
import sys
print(f\"   {'sessions':>8} {'sink':>7} {'Postfix':>8} {'etraq':>7} {'etraq/Postfix':>14} {'etraq/sink':>11}\")
for line in sys.stdin:
    s, sink, pfx, etraq = line.split()
    sink, pfx, etraq = float(sink), float(pfx), float(etraq)
    print(f'   {s:>8} {sink:>7.0f} {pfx:>8.0f} {etraq:>7.0f} {etraq/pfx:>13.2f}x {etraq/sink*100:>10.1f}%')
"
echo "   smtp-source errors against etraq: $failures; mails recorded by etraq: $stored (warm-up included)"
