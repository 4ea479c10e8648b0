#!/usr/bin/env bash
# A/B of two etraq builds through the gateway, in one run: both `etraq serve` (each on its own
# durable SQLite store on the real disk) relay to one smtp-sink; each round measures the sink
# alone, then A and B (the order flips every round), with smtp-source at S sessions. Prints
# per round: msg/s, share of the sink, etraq's CPU per mail (whole process and its SQLite writer
# thread) and B/A. The machine is noisy; compare B/A and CPU per mail over several rounds, not
# one rate.
#
# Usage: A=path/to/etraq-old B=path/to/etraq-new benches/smtp-ab.sh
#        (S=20 N=5000 R=4 L=5000; CMB_A / CMB_B set store.cache_mb for each, default 4)
# Build the two binaries first, e.g. `git stash; cargo build --release -p etraq-cli;
# cp target/release/etraq /tmp/etraq-a; git stash pop; cargo build --release -p etraq-cli`.
# Needs postfix's smtp-source and smtp-sink (apt-get install postfix) and python3.
set -euo pipefail
: "${A:?set A to the first etraq binary}" "${B:?set B to the second etraq binary}"
S=${S:-20}; N=${N:-5000}; R=${R:-4}; L=${L:-5000}
BASE=${BASE_PORT:-28100}
SINK=$((BASE + 1))
for t in smtp-source smtp-sink python3; do
    command -v "$t" >/dev/null || { echo "$t is needed (see the header of this script)"; exit 1; }
done
DISK=$(mktemp -d -p /var/tmp)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.5; rm -rf "$DISK"; }
trap cleanup EXIT
ulimit -n 8192
wait_port() { for _ in $(seq 1 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open"; exit 1; }
smtp-sink -u nobody 127.0.0.1:$SINK 256 &
PIDS+=($!)
wait_port $SINK
start() { # name binary smtp-port cache-mb
    mkdir -p "$DISK/$1"
    cat > "$DISK/$1/etraq.toml" <<EOT
local_domains = ["example.com"]
[smtp]
listen = "127.0.0.1:$3"
max_connections = 2000
[web]
listen = "127.0.0.1:$(($3 + 100))"
[upstream]
host = "127.0.0.1"
port = $SINK
[store]
url = "sqlite:data/etraq.db"
cache_mb = $4
EOT
    ETRAQ_LOG=warn "$2" --config "$DISK/$1/etraq.toml" serve 2>"$DISK/$1/serve.log" &
    PIDS+=($!)
    eval "PID_$1=$!"
    wait_port "$3"
}
PORT_A=$((BASE + 3)); PORT_B=$((BASE + 4))
start A "$A" $PORT_A "${CMB_A:-4}"
start B "$B" $PORT_B "${CMB_B:-4}"
src() { smtp-source -s "$S" -m "$1" -l "$L" -f sender@customer.test -t support@example.com 127.0.0.1:"$2"; }
# Warm up both (the store's first pages, the runtime's threads).
src 1000 $PORT_A; src 1000 $PORT_B
now() { date +%s.%N; }
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
writer_cpu() { for t in /proc/"$1"/task/*; do grep -q sqlite-wr "$t/comm" && awk '{print $14+$15}' "$t/stat"; done; }
measure() { # port pid → "rate cpu-us-per-mail writer-us-per-mail"
    local c0 w0 t0 t1 c1 w1
    c0=$(cpu "$2"); w0=$(writer_cpu "$2"); t0=$(now)
    src "$N" "$1"
    t1=$(now); c1=$(cpu "$2"); w1=$(writer_cpu "$2")
    python3 -c "print(f'{$N/($t1-$t0):.0f} {($c1-$c0)*10000/$N:.0f} {($w1-$w0)*10000/$N:.0f}')"
}
echo "== $S sessions, $N mails of $L bytes per measurement; A=$A B=$B"
for r in $(seq 1 "$R"); do
    t0=$(now); src "$N" $SINK; t1=$(now); sink=$(python3 -c "print(f'{$N/($t1-$t0):.0f}')")
    if [ $((r % 2)) = 1 ]; then
        a=$(measure $PORT_A "$PID_A"); b=$(measure $PORT_B "$PID_B")
    else
        b=$(measure $PORT_B "$PID_B"); a=$(measure $PORT_A "$PID_A")
    fi
    read -r ar ac aw <<<"$a"; read -r br bc bw <<<"$b"
    python3 -c "print(f'   round $r: sink $sink | A $ar msg/s ({100*$ar/$sink:.1f}%), {$ac} us/mail (writer {$aw}) | B $br msg/s ({100*$br/$sink:.1f}%), {$bc} us/mail (writer {$bw}) | B/A {$br/$ar:.3f}')"
done
