#!/usr/bin/env bash
# Bounces through the gateway: a real campaign is sent into smtp-sink, then one RFC 3464 DSN
# per recipient (each its own Message-ID, addressed to that mail's VERP address) comes back
# through `etraq serve`'s gateway, where each is verified, recorded with its raw message,
# parsed and acted on (a hard bounce: blocklisted). Baselines in the same run: the same client
# sending the same DSNs straight to smtp-sink, and smtp-source sending one DSN file to the
# gateway over and over (after the first, each is a retried delivery: recorded once, not
# acted on again). Afterwards the campaign's bounced_hard is checked against the DSNs sent.
#
# Usage: benches/bounce-load.sh     (N=5000 recipients and DSNs, S=20 sessions)
# Needs postfix's smtp-source and smtp-sink, and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}; S=${S:-20}
SINK=${SINK:-28621}; SMTP=${SMTP:-28622}; WEB=${WEB:-28623}; BASE=${BASE:-28624}
cargo build --release -q -p etraq-cli
ETRAQ="$PWD/target/release/etraq"
SEND="$PWD/benches/smtp-send.py"
D=$(mktemp -d -p /var/tmp)
chmod 755 "$D" && mkdir -p "$D/dumps" "$D/dsn" && chmod 777 "$D/dumps"
smtp-sink -u nobody -D "$D/dumps/mail" 127.0.0.1:$SINK 256 & SINK_PID=$!
# The baseline's sink keeps nothing (the first one writes every mail to its dump).
smtp-sink -u nobody 127.0.0.1:$BASE 256 & BASE_PID=$!
SERVE_PID=
trap 'kill $SINK_PID $BASE_PID $SERVE_PID 2>/dev/null || true; rm -rf "$D"' EXIT
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
[campaigns]
relay = "127.0.0.1:$SINK"
rate_per_second = 100000
bounce_domain = "bounces.example.com"
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
# One DSN per campaign mail, to its VERP address (the envelope sender it went out with).
python3 - dumps dsn > jobs.txt <<'PY'
import email, os, re, sys
src, out = sys.argv[1], sys.argv[2]
n = 0
for f in sorted(os.listdir(src)):
    raw = open(os.path.join(src, f), "rb").read()
    for chunk in re.split(rb"(?m)^(?=X-Client-Addr: )", raw):
        if not chunk.strip():
            continue
        m = email.message_from_bytes(chunk)
        verp = m["X-Mail-Args"].strip().split()[0].strip("<>")
        rcpt = m["X-Rcpt-Args"].strip().split()[0].strip("<>")
        n += 1
        path = os.path.join(out, f"{n}.eml")
        open(path, "w").write(f"""From: MAILER-DAEMON@mx.customer.test
To: {verp}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn{n}@mx.customer.test>
Date: Fri, 04 Dec 2026 20:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b{n}"

--b{n}
Content-Type: text/plain

Your message could not be delivered to {rcpt}.

--b{n}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.customer.test

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown

--b{n}
Content-Type: text/rfc822-headers

Message-ID: {m["Message-ID"]}
From: {m["From"]}
To: {rcpt}
Subject: {m["Subject"]}

--b{n}--
""")
        print(f"\t{verp}\t{os.path.abspath(path)}")
PY
test -s jobs.txt || { echo "no campaign mail to bounce" >&2; exit 1; }
"$ETRAQ" --config etraq.toml serve > serve.log 2>&1 & SERVE_PID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$SMTP) 2>/dev/null && break; sleep 0.1; done
echo "== baseline: the same DSNs straight to smtp-sink"
python3 "$SEND" 127.0.0.1:$BASE jobs.txt "$S" | tee base.txt
echo "== the DSNs through etraq's gateway (each one acted on)"
python3 "$SEND" 127.0.0.1:$SMTP jobs.txt "$S" | tee gw.txt
echo "== smtp-source: one DSN file, $N times, through the gateway (retried deliveries)"
first=$(head -1 jobs.txt | cut -f3); verp=$(head -1 jobs.txt | cut -f2)
t0=$(date +%s.%N)
smtp-source -s "$S" -m "$N" -f "" -t "$verp" -F "$first" 127.0.0.1:$SMTP
t1=$(date +%s.%N)
E campaign show Bench --json > counts.json
python3 - "$N" "$t0" "$t1" <<'PY'
import json, re, sys
n, t0, t1 = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
rate = lambda f: float(re.search(r"([\d,]+) msg/s", open(f).read()).group(1).replace(",", ""))
b, g = rate("base.txt"), rate("gw.txt")
c = json.load(open("counts.json"))
print(f"client -> smtp-sink: {b:,.0f} msg/s")
print(f"DSNs through the gateway: {g:,.0f} bounces/s ({g / b * 100:.1f}% of the sink)")
print(f"smtp-source, one DSN file through the gateway: {n / (t1 - t0):,.0f} msg/s")
print(f"campaign bounced_hard: {c['bounced_hard']:,} of {n:,} DSNs")
PY
