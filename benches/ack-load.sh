#!/usr/bin/env bash
# Gateway throughput with and without an acknowledgement rule, in one run, alternating twice:
# smtp-source (S sessions, N mails of 5 KB, all from one sender, each a new DR) through
# `etraq serve` relaying to smtp-sink. With the rule, the first mail is acknowledged and the
# loop guard refuses the rest (this process acknowledged the sender within the window).
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
run() { # $1 = label, $2 = rule yes/no
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
  smtp-source -s $S -m $N -l 5000 -f sender@customer.test -t support@example.com 127.0.0.1:27002
  T1=$(date +%s.%N)
  pkill -f etraq-ackload; sleep 1
  python3 -c "print('$1', f'{$N/($T1-$T0):.0f} msg/s')"
}
for r in 1 2; do run norule$r no; run rule$r yes; done
