#!/bin/sh
# Golden diagnostic test: run `dmlc check` on a .dml file and compare every
# diagnostic line (file:line:col: level: message, and hint: lines) with the
# file's own `// expect:` lines, exactly and in order. A file without expect
# lines must check clean. The exit status must be 1 with errors, 0 without,
# never a crash. Where NAME.stderr lies beside NAME.dml, the whole report
# (quoted lines and underlines too) must be that file.
dmlc=$1
file=$2
dir=$(dirname "$file")
base=$(basename "$file")
tmp=${TMPDIR:-/tmp}/dmlc-diag.$$
trap 'rm -f "$tmp".*' EXIT

(cd "$dir" && "$dmlc" check --color never "$base") >"$tmp.out" 2>"$tmp.err"
status=$?
sed -n 's|^.*// expect: ||p' "$file" >"$tmp.want"
# keep diagnostics and hints; show other files by their base name
grep -E '^([^ ]*:[0-9]+:[0-9]+: (error|warning|note): |hint: )' "$tmp.err" |
  sed -e "s|^$base:||" -e 's|^[^ ]*/\([^/ ]*:[0-9]*:[0-9]*: \)|\1|' >"$tmp.got"

if [ "$status" -gt 1 ]; then
  echo "FAIL $file: dmlc exited with status $status"
  cat "$tmp.err"
  exit 1
fi
want_status=0
grep -q ': error: ' "$tmp.want" && want_status=1
if [ "$status" -ne "$want_status" ]; then
  echo "FAIL $file: exit status $status, expected $want_status"
  cat "$tmp.err"
  exit 1
fi
if ! diff -u "$tmp.want" "$tmp.got" >"$tmp.diff"; then
  echo "FAIL $file: diagnostics differ (- expected, + actual)"
  cat "$tmp.diff"
  exit 1
fi
golden=${file%.dml}.stderr
if [ -f "$golden" ] && ! diff -u "$golden" "$tmp.err" >"$tmp.diff"; then
  echo "FAIL $file: the report differs from $golden (- expected, + actual)"
  cat "$tmp.diff"
  exit 1
fi
exit 0
