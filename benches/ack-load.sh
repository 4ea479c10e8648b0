#!/usr/bin/env bash
# Gateway throughput with and without an acknowledgement rule, in one run, alternating twice:
# smtp-source (S sessions, N mails of 5 KB, all from one sender, each a new DR) through
# `etraq serve` relaying to smtp-sink. With the rule, the first mail is acknowledged and the
# loop guard refuses the rest (this process acknowledged the sender within the window).
#
# Then the same with every mail from a different customer (benches/smtp-send.py), so with the
# rule every mail is acknowledged: its Auto Reply recorded and its message queued in the DR's
# transaction (the notifier mails them meanwhile).
#
# Usage: benches/ack-load.sh   (N=3000 S=20; needs smtp-source/smtp-sink from Debian's postfix)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p etraq-cli
E="$PWD/target/release/etraq"
N=${N:-3000}; S=${S:-20}
W=$(mktemp -d -p /var/tmp); chmod 755 $W
mkdir -p $W/sink; chmod 777 $W/sink
smtp-sink -u nobody -d "$W/sink/m." 127.0.0.1:27001 256 & SINKPID=$!
trap 'kill $SINKPID 2>/dev/null; pkill -f "etraq-ackload" 2>/dev/null; rm -rf $W' EXIT
sleep 0.5
JOBS=$W/jobs; mkdir -p $W/msgs
python3 - "$W" "$N" <<'PY'
import sys
w, n = sys.argv[1], int(sys.argv[2])
body = ("x" * 76 + "\r\n") * 60
with open(f"{w}/jobs", "w") as jobs:
    for i in range(n):
        f = f"{w}/msgs/{i}.eml"
        with open(f, "w", newline="") as m:
            m.write(f"From: <c{i}@customer.test>\r\nTo: <support@example.com>\r\nSubject: question {i}\r\n"
                    f"Message-ID: <q{i}@customer.test>\r\n\r\n{body}")
        jobs.write(f"c{i}@customer.test\tsupport@example.com\t{f}\n")
PY
run() { # $1 = label, $2 = rule yes/no, $3 = one|many senders
  D=$W/$1; mkdir -p $D
  cat > $D/etraq.toml <<T
local_domains = ["example.com"]
timezone = "UTC"
[smtp]
listen = "127.0.0.1:27002"
[web]
listen = "127.0.0.1:27003"
[upstream]
host = "127.0.0.1"
port = 27001
[store]
url = "sqlite:$D/etraq.db"
T
  (cd $D && $E --config etraq.toml user add support@example.com --name Support >/dev/null)
  if [ "$2" = yes ]; then (cd $D && $E --config etraq.toml autoreply add all >/dev/null); fi
  (cd $D && exec -a etraq-ackload $E --config etraq.toml serve >$D/log 2>&1) &
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/27002) 2>/dev/null && break; sleep 0.1; done
  T0=$(date +%s.%N)
  if [ "$3" = one ]; then
    smtp-source -s $S -m $N -l 5000 -f sender@customer.test -t support@example.com 127.0.0.1:27002
  else
    python3 benches/smtp-send.py 127.0.0.1:27002 $JOBS $S >/dev/null
  fi
  T1=$(date +%s.%N)
  pkill -f etraq-ackload; sleep 1
  python3 -c "print('$1', f'{$N/($T1-$T0):.0f} msg/s')"
}
for r in 1 2; do run one-sender-norule$r no one; run one-sender-rule$r yes one; done
for r in 1 2; do run many-senders-norule$r no many; run many-senders-rule$r yes many; done
