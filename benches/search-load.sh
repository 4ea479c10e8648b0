#!/usr/bin/env bash
# Full-text search at scale on SQLite: N generated mails (the traffic generator's mbox) are
# ingested with `etraq ingest` (the index written with each mail), then
#   - two-word queries ask for their first 20 results (p50, p95, slowest);
#   - the index's share of the store: the file, against a copy with the index dropped and
#     vacuumed;
#   - with BASE=REV (a commit before the search index, e.g. ca4c881), the same ingest by that
#     build in the same run, for the cost of indexing.
#
# With STORE=sled the same ingest goes into a sled store (tantivy index), BASE comparing it with
# a build before sled had one (e.g. c698c49); the query figures are SQLite's only.
#
# Usage: benches/search-load.sh     (N=100000; the contract's figure is at N=1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
cargo build --release -q -p etraq-cli --bins && cargo build --release -q -p etraq-benches --examples
ETRAQ="$PWD/target/release/etraq"
D=$(mktemp -d -p /var/tmp)
trap 'rm -rf "$D"' EXIT
target/release/examples/gen-mbox "$N" > "$D/t.mbox"
echo "== $N mails, $(du -m "$D/t.mbox" | cut -f1) MB of mbox"
STORE=${STORE:-sqlite}
case "$STORE" in
  sled) URL="sled:data/sled" ;;
  *) URL="sqlite:data/etraq.db" ;;
esac
printf 'local_domains = ["example.com"]\n[store]\nurl = "%s"\n' "$URL" > "$D/etraq.toml"
ingest() { # binary, dir
  mkdir -p "$2" && cp "$D/etraq.toml" "$2/"
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$2" && "$1" --config etraq.toml ingest "$D/t.mbox" --json > /dev/null)
  t1=$(date +%s.%N)
  python3 -c "print(f'{$N / ($t1 - $t0):,.0f}')"
}
# Both builds first, then the two ingests back to back, so nothing else competes with them.
if [ -n "${BASE:-}" ]; then
  git worktree add -f "$D/base" "$BASE" -q
  (cd "$D/base" && CARGO_TARGET_DIR="${BASE_TARGET:-$D/base-target}" cargo build --release -q -p etraq-cli)
fi
rate=$(ingest "$ETRAQ" "$D/new")
echo "   ingest with the search index: $rate mails/s"
if [ -n "${BASE:-}" ]; then
  base=$(ingest "${BASE_TARGET:-$D/base-target}/release/etraq" "$D/old")
  echo "   ingest by $BASE (no search index): $base mails/s"
  python3 -c "print(f'   with index / without: {int(\"$rate\".replace(\",\",\"\")) / int(\"$base\".replace(\",\",\"\")) * 100:.1f}%')"
  git worktree remove --force "$D/base"
fi
if [ "$STORE" = sled ]; then
  echo "   sled store $(du -sm "$D/new/data/sled" | cut -f1) MB, of which the search index $(du -sm "$D/new/data/sled/search" | cut -f1) MB"
  exit 0
fi
DB="$D/new/data/etraq.db"
# (The example checkpoints by closing the store, then measures the file with and without the
# index.)
target/release/examples/search-bench "$DB" 300 | sed 's/^/   /'
