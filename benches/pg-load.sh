#!/usr/bin/env bash
# The gateway on PostgreSQL, one node and two, against the same gateway on SQLite, in one run:
#   1. smtp-source into one `etraq serve` on SQLite (durable), relaying to smtp-sink (baseline)
#   2. the same into one `etraq serve` on PostgreSQL (a throwaway cluster on this machine's
#      disk, fsync and synchronous_commit on, as a production server runs)
#   3. the same split over two `etraq serve` nodes on that one database (half the sessions to
#      each, at once): on 2 cores this checks for lock contention between nodes, not scaling
# Each is measured R times, alternating, and the median counts. Then PostgreSQL's CPU per mail
# (its processes' user + system time over a measurement, from /proc), and its statements and
# WAL bytes per mail (pg_stat_database, pg_current_wal_lsn) — the figures behind
# docs/postgres.md's estimate for 4 and 8 nodes.
#
# Usage: benches/pg-load.sh      (N=3000 S=20 L=5000 R=3; override in the environment;
#                                 PG_OPTS="-c commit_delay=200" adds server settings)
# Needs root (PostgreSQL runs as the postgres user), Debian's postgresql and postfix
# (smtp-source, smtp-sink).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-3000}   # messages per measurement
S=${S:-20}     # concurrent sessions
L=${L:-5000}   # message size in bytes
R=${R:-3}      # rounds
BASE=${BASE_PORT:-26120}
SINK=$((BASE + 1)); PG=$((BASE + 2)); SQ=$((BASE + 3)); A=$((BASE + 4)); B=$((BASE + 5))

command -v smtp-source >/dev/null || { echo "smtp-source is missing: apt-get install postfix"; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is missing: apt-get install postgresql"; exit 1; }

echo "== building etraq (release)"
cargo build --release -q -p etraq-cli
ETRAQ="$PWD/target/release/etraq"

WORK=$(mktemp -d /dev/shm/etraq-pg.XXXXXX 2>/dev/null || mktemp -d)
DISK=$(mktemp -d -p /var/tmp)
chmod 755 "$WORK" "$DISK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 1
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DISK/pg" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$WORK" "$DISK"
}
trap cleanup EXIT

wait_port() { for _ in $(seq 1 400); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 did not open"; exit 1; }
count() { find "$WORK/sink" -type f | wc -l; }
now() { date +%s.%N; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.0f}')" "$@"; }

mkdir -p "$WORK/sink"; chmod 777 "$WORK/sink"
smtp-sink -u nobody -d "$WORK/sink/m." 127.0.0.1:$SINK 256 &
PIDS+=($!)
wait_port $SINK

echo "== starting PostgreSQL (durable) on port $PG"
echo "etraq-bench" > "$DISK/pw"; chown postgres "$DISK/pw"; chown postgres "$DISK"
runuser -u postgres -- "$PGBIN/initdb" -D "$DISK/pg" -U etraq -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 --pwfile="$DISK/pw" >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$DISK/pg" -l "$DISK/pg.log" -w \
    -o "-p $PG -k $DISK -c listen_addresses=127.0.0.1 -c max_connections=200 ${PG_OPTS:-}" start >/dev/null
PSQL() { runuser -u postgres -- "$PGBIN/psql" -h "$DISK" -p $PG -U etraq -At "$@"; }
for db in one two; do runuser -u postgres -- "$PGBIN/createdb" -h "$DISK" -p $PG -U etraq "$db"; done

node() { # dir smtp-port web-port store-url
    mkdir -p "$1"
    cat > "$1/etraq.toml" <<EOF
local_domains = ["example.com"]
timezone = "UTC"
[smtp]
listen = "127.0.0.1:$2"
[web]
listen = "127.0.0.1:$3"
[upstream]
host = "127.0.0.1"
port = $SINK
[store]
url = "$4"
EOF
}
start() { # dir smtp-port
    if (exec 3<>/dev/tcp/127.0.0.1/"$2") 2>/dev/null; then echo "port $2 is in use already"; exit 1; fi
    # exec: the PID is etraq's own, so killing it stops the node (not just a subshell).
    (cd "$1" && ETRAQ_LOG=warn exec "$ETRAQ" --config etraq.toml serve >"$1/serve.log" 2>&1) &
    PIDS+=($!)
    wait_port "$2"
}
stop() { # pid: SIGTERM, then wait until it is gone
    kill "$1" 2>/dev/null || true
    while kill -0 "$1" 2>/dev/null; do sleep 0.1; done
}
URL="postgres://etraq:etraq-bench@127.0.0.1:$PG"
node "$DISK/sqlite" $SQ $((BASE + 10)) "sqlite:$DISK/sqlite/etraq.db"
node "$DISK/one" $A $((BASE + 11)) "$URL/one"
node "$DISK/a" $A $((BASE + 12)) "$URL/two"
node "$DISK/b" $B $((BASE + 13)) "$URL/two"

# One measurement: N mails through the given ports (sessions split evenly); prints msg/s.
measure() {
    local before after t0 t1 per=$((S / $#)) n=$((N / $#)) p
    before=$(count); t0=$(now)
    for p in "$@"; do smtp-source -s $per -m $n -l "$L" -f sender@customer.test -t support@example.com 127.0.0.1:$p & done
    wait $(jobs -p | tail -n $#)
    t1=$(now); after=$(count)
    python3 -c "print(f'{($after-$before)/($t1-$t0):.0f}')"
}
idle() { # idle clock ticks of the whole machine so far
    awk '/^cpu /{print $5 + $6}' /proc/stat
}
busy_total() { # all clock ticks of the whole machine so far
    awk '/^cpu /{s=0; for (i = 2; i <= NF; i++) s += $i; print s}' /proc/stat
}
# Samples, every 50 ms until killed, which database sessions wait for a lock (the sign of
# nodes contending), into $1: one line per sample, the lock kind each waiter waits on
# (`transactionid`: a row another transaction wrote or locked; `advisory`; `relation`;
# `extend` …), "-" when none waits.
lock_sampler() {
    while true; do
        PSQL -d two -c "SELECT COALESCE(string_agg(wait_event, ' '), '-') FROM pg_stat_activity WHERE wait_event_type = 'Lock'" >> "$1" 2>/dev/null || true
        sleep 0.05
    done
}
pg_cpu() { # clock ticks of every postgres process
    local sum=0 p
    for p in $(pgrep -u postgres); do
        sum=$((sum + $(awk '{print $14 + $15}' /proc/$p/stat 2>/dev/null || echo 0)))
    done
    echo $sum
}

start "$DISK/sqlite" $SQ
start "$DISK/one" $A
sq=(); one=(); two=()
for r in $(seq 1 "$R"); do
    sq+=("$(measure $SQ)")
    one+=("$(measure $A)")
done
# One node on PostgreSQL: the database's cost per mail, from one more measurement.
c0=$(pg_cpu); x0=$(PSQL -d one -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'one'")
w0=$(PSQL -d one -c "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
measure $A >/dev/null
c1=$(pg_cpu); x1=$(PSQL -d one -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'one'")
w1=$(PSQL -d one -c "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
stop "${PIDS[-1]}"
start "$DISK/a" $A
start "$DISK/b" $B
i0=$(idle); t0=$(busy_total)
lock_sampler "$DISK/locks" &
SAMPLER=$!
for r in $(seq 1 "$R"); do two+=("$(measure $A $B)"); done
kill $SAMPLER 2>/dev/null || true
i1=$(idle); t1=$(busy_total)

tick=$(getconf CLK_TCK)
LOCKS=$(python3 - "$DISK/locks" <<'PY'
import collections, sys
samples = [[w for w in line.split() if w != "-"] for line in open(sys.argv[1]) if line.strip()]
kinds = collections.Counter(w for s in samples for w in s)
waiting = [len(s) for s in samples]
detail = ", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "none"
print(f"{sum(1 for n in waiting if n)} of {len(waiting)} samples had a session waiting for a lock "
      f"(at most {max(waiting, default=0)}; waiters by lock kind: {detail})")
PY
)
IDLE=$(python3 -c "print(f'{($i1-$i0)/($t1-$t0):.0%}')")
SQ_RATE=$(median "${sq[@]}"); ONE=$(median "${one[@]}"); TWO=$(median "${two[@]}")
echo
echo "== $N mails of $L bytes, $S sessions, median of $R (sqlite: ${sq[*]}; one: ${one[*]}; two: ${two[*]})"
printf '%-44s %8s msg/s\n' "one node, SQLite (baseline)" "$SQ_RATE"
printf '%-44s %8s msg/s   %s of SQLite\n' "one node, PostgreSQL" "$ONE" "$(python3 -c "print(f'{$ONE/$SQ_RATE:.0%}')")"
printf '%-44s %8s msg/s   %s of one node\n' "two nodes, one PostgreSQL database" "$TWO" "$(python3 -c "print(f'{$TWO/$ONE:.0%}')")"
echo "during the two-node runs: the machine was $IDLE idle; $LOCKS"
python3 - "$N" "$tick" "$c0" "$c1" "$x0" "$x1" "$w0" "$w1" <<'EOF'
import sys
n, tick, c0, c1, x0, x1, w0, w1 = map(float, sys.argv[1:])
print(f"PostgreSQL per mail: {(c1-c0)/tick/n*1000:.2f} ms CPU, {(x1-x0)/n:.2f} commits, {(w1-w0)/n/1024:.1f} KiB WAL")
EOF
