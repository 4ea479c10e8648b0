#!/bin/sh
# Regenerates the command reference part of docs/cli.md from the binary's own --help, so the
# reference can never drift from the code. Usage: scripts/gen-cli-doc.sh > docs/cli-commands.md
set -eu
bin=${ETRAQ_BIN:-target/debug/etraq}
[ -x "$bin" ] || cargo build -q -p etraq-cli
commands=$("$bin" --help | awk '/^Commands:/{on=1;next} /^$/{on=0} on && $1!="help"{print $1}')
echo "# etraq command reference"
echo
echo "Generated from \`etraq … --help\` by \`scripts/gen-cli-doc.sh\`; a test checks that every"
echo "command and flag of the binary is here. The guide to using them is [cli.md](cli.md)."
echo
echo "## etraq"
echo
echo '```text'
"$bin" --help
echo '```'
for c in $commands; do
  subs=$("$bin" "$c" --help | awk '/^Commands:/{on=1;next} /^$/{on=0} on && $1!="help"{print $1}')
  echo
  echo "## etraq $c"
  echo
  echo '```text'
  "$bin" "$c" --help
  echo '```'
  for s in $subs; do
    echo
    echo "### etraq $c $s"
    echo
    echo '```text'
    "$bin" "$c" "$s" --help
    echo '```'
  done
done
