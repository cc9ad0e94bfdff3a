#!/bin/sh
# The README's quick start, as written: the command line under "Quick
# start" is read from README.md, its apt-get steps are checked (every
# package it names is installed: otherwise the test is skipped, since it
# installs nothing), and the rest (configure, build with the default
# options, compile the digits MLP, train it) runs in a fresh copy of the
# source tree. The accuracy the README promises ("about 97%" after 30
# epochs) must be what training prints: at least 96%.
# usage: quickstart.sh SOURCE_DIR
set -eu
src=$1
line=$(sed -n 's/^    \(apt-get update && .*\)$/\1/p' "$src/README.md")
[ -n "$line" ] || { echo "FAIL: no quick-start line (    apt-get update && ...) in README.md"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# split at " && ": the apt-get steps, then the rest
steps=$(printf '%s\n' "$line" | sed 's/ && /\n/g')
rest=$(printf '%s\n' "$steps" | grep -v '^apt-get ' | paste -sd'&' | sed 's/&/ \&\& /g')
packages=$(printf '%s\n' "$steps" | sed -n 's/^apt-get install -y //p')
[ -n "$packages" ] || { echo "FAIL: the quick start installs no packages"; exit 1; }
for p in $packages; do
  if ! dpkg -s "$p" >/dev/null 2>&1; then
    echo "SKIP: the quick start installs $p, which is not installed here"
    exit 77
  fi
done
(cd "$src" && tar --exclude='./build*' --exclude=./.git -cf - .) | (cd "$tmp" && tar -xf -)
echo "running in a copy of the tree: $rest"
if ! (cd "$tmp" && sh -c "$rest") >"$tmp/out" 2>&1; then
  tail -n 30 "$tmp/out"
  echo "FAIL: the quick start failed"
  exit 1
fi
last=$(grep '^epoch 30/30 ' "$tmp/out" || true)
acc=$(printf '%s\n' "$last" | sed -n 's/.*val accuracy \([0-9.]*\)%.*/\1/p')
if [ -z "$acc" ] || ! awk -v a="$acc" 'BEGIN { exit !(a >= 96) }'; then
  tail -n 5 "$tmp/out"
  echo "FAIL: the README promises about 97% validation accuracy after 30 epochs; the last line: ${last:-none}"
  exit 1
fi
echo "ok: $last"
