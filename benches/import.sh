#!/usr/bin/env bash
# `etraq subscriber import` speed on SQLite (synchronous=FULL, on the real disk), against a
# baseline measured in the same run: Python's csv module inserting the same rows into an SQLite
# table in one transaction (no validation, no merge rule, no durability per batch).
#
# Usage: benches/import.sh        (ROWS=100000; override in the environment)
# Prints rows/s for both, their ratio, and etraq's peak RSS (with /usr/bin/time, when present).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-100000}
cargo build --release -q -p etraq-cli
ETRAQ="$PWD/target/release/etraq"
D=$(mktemp -d -p /var/tmp)
trap 'rm -rf "$D"' EXIT
python3 - "$D/people.csv" "$ROWS" <<'PY'
import csv, random, sys
path, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
countries = ["DE", "FR", "US", "GB", "NL", "ES", "IT", "SE"]
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["email", "name", "country", "plan", "since"])
    for i in range(n):
        w.writerow([f"person{i}@example{i % 500}.org", f"Person {i}, Jr.",
                    random.choice(countries), random.choice(["free", "pro", ""]), f"2026-{i % 12 + 1:02d}-01"])
PY
cd "$D"
export ETRAQ_STORE="sqlite:$D/data/etraq.db"
"$ETRAQ" list create Bench >/dev/null
now() { date +%s.%N; }
t0=$(now)
if [ -x /usr/bin/time ]; then
    /usr/bin/time -v "$ETRAQ" subscriber import people.csv --list Bench --json > report.json 2> time.txt
else
    "$ETRAQ" subscriber import people.csv --list Bench --json > report.json
fi
t1=$(now)
t2=$(now)
python3 - "$D/people.csv" "$D/baseline.db" <<'PY'
import csv, sqlite3, sys
db = sqlite3.connect(sys.argv[2])
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE s (email TEXT PRIMARY KEY, name TEXT, attribs TEXT)")
with open(sys.argv[1], newline="") as f, db:
    r = csv.DictReader(f)
    db.executemany("INSERT OR REPLACE INTO s VALUES (?, ?, ?)",
                   ((row["email"].lower(), row["name"], repr(row)) for row in r))
PY
t3=$(now)
python3 - "$ROWS" "$t0" "$t1" "$t2" "$t3" report.json time.txt <<'PY'
import json, os, sys
n, t0, t1, t2, t3 = int(sys.argv[1]), *map(float, sys.argv[2:6])
rep = json.load(open(sys.argv[6]))
e, b = n / (t1 - t0), n / (t3 - t2)
print(f"== {n} rows")
print(f"   etraq subscriber import: {e:,.0f} rows/s (imported {rep['imported']}, errors {rep['error_count']})")
print(f"   baseline (Python csv + one SQLite transaction): {b:,.0f} rows/s")
print(f"   etraq / baseline: {e / b:.2f}x")
if os.path.exists(sys.argv[7]):
    for line in open(sys.argv[7]):
        if "Maximum resident" in line:
            print(f"   etraq peak RSS: {int(line.split()[-1]) / 1024:.1f} MB")
PY
