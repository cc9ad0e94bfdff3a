#!/bin/bash
# run_stress.sh - feed `dmlc check` pathological inputs.
#
# usage: tests/stress/run_stress.sh DMLC [CASE...]
#   DMLC   the dmlc executable (a normal or a -DDMLC_SANITIZE=ON build)
#   CASE   run only these cases (default: all; `--list` prints their names)
#
# For every input the exit status must be exactly 0 (clean) or 1 (errors):
# never a crash (status >= 128), never a hang (killed after $STRESS_TIMEOUT
# seconds, default 20), never a sanitizer report. Where errors are expected
# the output must hold a `file:line:col: error:` line (or, for a file that
# cannot be read at all, an `error:` line naming it). Some cases also have a
# time budget well under the timeout, to catch quadratic slowdowns.
#
# Inputs are generated with printf/awk/head in a temporary folder, never
# checked in. The input of every failing case is kept in $STRESS_KEEP
# (default /tmp/dmlc-stress-failures) with its stderr, to reproduce it.
#
# Decisions recorded here:
#   - A UTF-8 byte order mark at the start of a file is skipped, as GCC
#     and Clang do: the case asserts the program checks clean.
#   - An empty file, and /dev/null, are valid programs (no items): exit 0.
#   - A directory or a missing file is an error without a location
#     (`error: cannot read D: it is a directory`, `error: cannot open F:
#     No such file or directory`), exit 1.
#
# environment:
#   STRESS_TIMEOUT  seconds before a run counts as a hang (default 20)
#   STRESS_KEEP     where inputs of failing cases are copied
# Exit status: 0 if every case passed, 1 otherwise, 2 on a usage error.
set -u

usage() { echo "usage: $0 DMLC [CASE...] | $0 --list" >&2; exit 2; }

ALL_CASES="empty dev-null newlines-only valid-lf crlf bom random-1mb nul-bytes
  nested-parens-100k unary-minus-100k sum-1m-terms nested-calls-100k
  nested-for-2000 many-items-10mb long-line-clean long-line-error long-identifier
  fn-body-100k unknown-names-100k unknown-locals-100k error-lines-100k
  train-entries-100k string-backslash-eof unterminated-comment-1mb
  too-large-65mb directory missing-file"

[ $# -ge 1 ] || usage
if [ "$1" = --list ]; then
  echo $ALL_CASES | tr ' ' '\n'
  exit 0
fi
dmlc=$1
shift
case $dmlc in /*) ;; *) dmlc=$(pwd)/$dmlc ;; esac
[ -x "$dmlc" ] && [ -f "$dmlc" ] || { echo "run_stress.sh: $dmlc is not an executable" >&2; exit 2; }
cases=${*:-$ALL_CASES}
for c in $cases; do
  case " $(echo $ALL_CASES) " in *" $c "*) ;; *) echo "run_stress.sh: unknown case '$c' (see --list)" >&2; exit 2 ;; esac
done

timeout_s=${STRESS_TIMEOUT:-20}
keep=${STRESS_KEEP:-/tmp/dmlc-stress-failures}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dmlc-stress.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
# Sanitizers exit with status 1 by default, which looks like "errors
# found": give them their own statuses, and always print stack traces.
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-exitcode=87:print_stacktrace=1:halt_on_error=1}
export NO_COLOR=1
# a stdlib next to the sources, in case a program says `use nn`
[ -n "${DMLC_STDLIB:-}" ] || export DMLC_STDLIB="$(cd "$(dirname "$0")/../.." && pwd)/stdlib"

gnu_time=
if /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then gnu_time=/usr/bin/time; fi

npass=0
nfail=0
failed_names=

# ---- the runner --------------------------------------------------------------

# run_case NAME EXPECT FILE [BUDGET_S] [MESSAGE_REGEX]
#   EXPECT   clean: exit 0 and no error line
#            error: exit 1 and a `FILE:LINE:COL: error:` line
#            fatal: exit 1 and an `error:` line naming FILE (no location)
#   BUDGET_S the run must take less than this many seconds (default: timeout)
#   MESSAGE_REGEX  an extended regex the diagnostics must match
run_case() {
  local name=$1 expect=$2 file=$3 budget=${4:-$timeout_s} want=${5:-}
  # sanitizer builds run several times slower: their ctest sets a scale
  budget=$((budget * ${STRESS_BUDGET_SCALE:-1}))
  local out=$tmp/$name.out err=$tmp/$name.err rss=$tmp/$name.rss
  local t0 t1 status ms problems=
  t0=$(date +%s%N)
  if [ -n "$gnu_time" ]; then
    (cd "$tmp" && $gnu_time -f %M -o "$rss" timeout -k 5 "$timeout_s" "$dmlc" check --color never "$file" >"$out" 2>"$err")
  else
    (cd "$tmp" && timeout -k 5 "$timeout_s" "$dmlc" check --color never "$file" >"$out" 2>"$err")
  fi
  status=$?
  t1=$(date +%s%N)
  ms=$(((t1 - t0) / 1000000))
  local kb=?
  [ -s "$rss" ] && kb=$(tail -n 1 "$rss")
  local lines bytes
  lines=$(wc -l <"$err")
  bytes=$(wc -c <"$err")

  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    problems="$problems; HANG: killed after ${timeout_s}s"
  elif [ "$status" -ge 128 ]; then
    problems="$problems; CRASH: signal $((status - 128))"
  fi
  if grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$err"; then
    problems="$problems; SANITIZER REPORT (status $status)"
  fi
  if [ "$status" -ne 0 ] && [ "$status" -ne 1 ] && [ "$status" -ne 124 ] && [ "$status" -lt 128 ]; then
    problems="$problems; exit status $status, not 0 or 1"
  fi
  if [ "$status" -eq 0 ] || [ "$status" -eq 1 ]; then
    # the file name as dmlc prints it, with regex metacharacters escaped
    local fre
    fre=$(printf '%s' "$file" | sed 's/[][\.*^$+?(){}|/]/\\&/g')
    case $expect in
      clean)
        [ "$status" -eq 0 ] || problems="$problems; expected a clean check (exit 0), got exit $status"
        grep -q -E '(^|: )error: ' "$err" && problems="$problems; expected no error, but the output has one"
        ;;
      error)
        [ "$status" -eq 1 ] || problems="$problems; expected errors (exit 1), got exit $status"
        grep -q -E "^$fre:[0-9]+:[0-9]+: error: " "$err" ||
          problems="$problems; no '$file:LINE:COL: error:' line in the output"
        ;;
      fatal)
        [ "$status" -eq 1 ] || problems="$problems; expected an error (exit 1), got exit $status"
        grep -q -E "^error: .*$fre" "$err" || problems="$problems; no 'error: ... $file' line in the output"
        ;;
    esac
    if [ -n "$want" ] && ! grep -q -E -e "$want" "$err"; then
      problems="$problems; the output does not match /$want/"
    fi
    if [ "$ms" -ge $((budget * 1000)) ]; then
      problems="$problems; TOO SLOW: ${ms} ms, budget ${budget}s"
    fi
  fi

  local size=-
  [ -f "$tmp/$file" ] && size=$(wc -c <"$tmp/$file")
  local info
  info=$(printf '%-26s exit %-3s %7d ms  rss %8s KB  input %9s B  stderr %6d lines' \
    "$name" "$status" "$ms" "$kb" "$size" "$lines")
  if [ -z "$problems" ]; then
    npass=$((npass + 1))
    echo "PASS $info"
    if [ "$lines" -gt 10000 ]; then
      echo "     note: $lines lines ($bytes bytes) of diagnostics: the output is not bounded"
    fi
    if [ "$kb" != ? ] && [ "$kb" -gt $((256 * 1024)) ]; then
      echo "     note: peak memory $((kb / 1024)) MB for a $size-byte input"
    fi
  else
    nfail=$((nfail + 1))
    failed_names="$failed_names $name"
    echo "FAIL $info"
    echo "${problems#; }" | tr ';' '\n' | sed 's/^ */     - /'
    echo "     first lines of stderr:"
    head -n 12 "$err" | cut -c1-200 | sed 's/^/     | /'
    if grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$err"; then
      echo "     sanitizer report:"
      grep -E -A 14 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$err" | head -n 30 | cut -c1-200 | sed 's/^/     | /'
    fi
    mkdir -p "$keep"
    if [ -f "$tmp/$file" ] && [ "$size" -le $((16 << 20)) ]; then
      cp "$tmp/$file" "$keep/$name.dml"
      head -c 1000000 "$err" >"$keep/$name.stderr"
      echo "     kept: $keep/$name.dml (+ .stderr)"
    fi
  fi
  rm -f "$out" "$err" "$rss"
}

# ---- inputs --------------------------------------------------------------------

# A valid program using most of the syntax, with no `use`, so that it does
# not depend on the standard library.
valid_program() {
  cat <<'EOF'
// A self-contained DML program: consts, params, functions, a loop,
// comments, a string with escapes, the loss and a train block.
const H = 4
const RATE: f64 = 0.5 * 2

param W: f32[3, H] = glorot
param b: f32[H] = zeros
param V: f32[H, 2] = uniform(lo = -0.1, hi = 0.1)

/* a block comment
   over two lines */
fn hidden(x: f32[n, 3]) -> f32[n, H] {
    let z = x @ W +
        b
    var h = relu(z)
    for i in 0..2 {
        h = h * 0.5 + tanh(z)
    }
    h
}

fn predict(x: f32[n, 3]) -> f32[n, 2] {
    hidden(x) @ V; // a trailing comment
}

loss(x: f32[n, 3], y: i32[n]) {
    -mean(pick(log_softmax(predict(x), axis = -1), y)) + 1e-4 * l2(W, V)
}

train {
    data = csv("data \"x\".csv", header = true, x = cols(0, 3), y = col(3))
    optimizer = adam(lr = 1e-3)
    batch = 16
    epochs = 2
}
EOF
}

# repeat STRING N: STRING N times, no newline
repeat() { awk -v s="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s", s }'; }

one_case() {
  local f
  case $1 in
    empty)
      : >"$tmp/empty.dml"
      run_case empty clean empty.dml 5 ;;
    dev-null)
      run_case dev-null clean /dev/null 5 ;;
    newlines-only)
      repeat '\n' 1000000 >"$tmp/newlines.dml"
      run_case newlines-only clean newlines.dml 5 ;;
    valid-lf)
      valid_program >"$tmp/valid.dml"
      run_case valid-lf clean valid.dml 5 ;;
    crlf)
      valid_program | sed 's/$/\r/' >"$tmp/crlf.dml"
      run_case crlf clean crlf.dml 5 ;;
    bom)
      { printf '\357\273\277'; valid_program; } >"$tmp/bom.dml"
      run_case bom ok bom.dml 5 ;;
    random-1mb)
      head -c 1048576 /dev/urandom >"$tmp/random.dml"
      run_case random-1mb error random.dml 10 ;;
    nul-bytes)
      head -c 1048576 /dev/zero >"$tmp/nul.dml"
      run_case nul-bytes error nul.dml 10 'unexpected NUL byte' ;;
    nested-parens-100k)
      { printf 'const C = '; repeat '(' 100000; printf 1; repeat ')' 100000; echo; } >"$tmp/parens.dml"
      run_case nested-parens-100k error parens.dml 5 'nested too deeply' ;;
    unary-minus-100k)
      { printf 'const C = '; repeat - 100000; echo 1; } >"$tmp/minus.dml"
      run_case unary-minus-100k error minus.dml 5 'nested too deeply' ;;
    sum-1m-terms)
      { printf 'const C = 1'; repeat +1 999999; echo; } >"$tmp/sum.dml"
      run_case sum-1m-terms error sum.dml 10 'nested too deeply' ;;
    nested-calls-100k)
      { echo 'fn f(x: f32) -> f32 { x }'; printf 'const C = '; repeat 'f(' 100000; printf 1; repeat ')' 100000; echo; } >"$tmp/calls.dml"
      run_case nested-calls-100k error calls.dml 5 'nested too deeply' ;;
    nested-for-2000)
      awk 'BEGIN { print "fn f(x: f32) -> f32 {"; print "    var s = x"
                   for (i = 0; i < 2000; i++) print "for v" i " in 0..2 {"
                   print "s += 1"
                   for (i = 0; i < 2000; i++) print "}"
                   print "    s"; print "}" }' >"$tmp/fors.dml"
      run_case nested-for-2000 error fors.dml 5 'nested too deeply' ;;
    many-items-10mb)
      # 200 000 consts, ~10 MB; every line valid
      awk 'BEGIN { for (i = 0; i < 200000; i++)
                     printf "const C%d = %d + %d * 2 // padded to ~10 MB\n", i, i, i }' >"$tmp/items.dml"
      run_case many-items-10mb clean items.dml 10 ;;
    long-line-clean)
      { printf 'const C = 1'; repeat ' ' 1048576; echo '// the end'; } >"$tmp/longline.dml"
      run_case long-line-clean clean longline.dml 5 ;;
    long-line-error)
      { printf 'const C = 1'; repeat ' ' 1048576; echo '+ nowhere'; } >"$tmp/longerr.dml"
      run_case long-line-error error longerr.dml 5 '^longerr\.dml:1:1048590: error: unknown name `nowhere`' ;;
    long-identifier)
      { printf 'const '; repeat A 1048576; echo ' = 1'; } >"$tmp/longid.dml"
      run_case long-identifier clean longid.dml 5 ;;
    fn-body-100k)
      awk 'BEGIN { print "fn f(x: f32) -> f32 {"; print "    let a0 = x"
                   for (i = 1; i < 100000; i++) printf "    let a%d = a%d + 1\n", i, i - 1
                   print "    a99999"; print "}" }' >"$tmp/body.dml"
      run_case fn-body-100k clean body.dml 10 ;;
    unknown-names-100k)
      awk 'BEGIN { for (i = 0; i < 100000; i++) printf "const C%d = u%d\n", i, i }' >"$tmp/unknown.dml"
      run_case unknown-names-100k error unknown.dml 10 'unknown name `u0`' ;;
    unknown-locals-100k)
      awk 'BEGIN { print "fn f(x: f32) -> f32 {"
                   for (i = 0; i < 100000; i++) printf "    let _a%d = u%d\n", i, i
                   print "    x"; print "}" }' >"$tmp/unklocal.dml"
      run_case unknown-locals-100k error unklocal.dml 10 'unknown name `u0`' ;;
    error-lines-100k)
      repeat '$\n' 100000 >"$tmp/dollars.dml"
      run_case error-lines-100k error dollars.dml 10 'unexpected character `\$`' ;;
    train-entries-100k)
      awk 'BEGIN { print "loss(x: f32[n]) {"; print "    sum(x)"; print "}"; print "train {"
                   for (i = 0; i < 100000; i++) printf "    key%d = %d\n", i, i
                   print "}" }' >"$tmp/train.dml"
      run_case train-entries-100k error train.dml 10 'unknown train setting `key0`' ;;
    string-backslash-eof)
      # a string whose last byte is a backslash, at the end of a file whose
      # size + 1 is a multiple of 16 and over 64 KiB (its own arena block)
      { printf 'const S = "'; repeat a 65539; printf '\\'; } >"$tmp/backslash.dml"
      run_case string-backslash-eof error backslash.dml 5 'unterminated string' ;;
    unterminated-comment-1mb)
      { printf 'const C = 1\n/* never closed'; repeat 'x' 1048576; } >"$tmp/comment.dml"
      run_case unterminated-comment-1mb error comment.dml 5 'unterminated comment' ;;
    too-large-65mb)
      truncate -s 65M "$tmp/huge.dml" 2>/dev/null || head -c 68157440 /dev/zero >"$tmp/huge.dml"
      run_case too-large-65mb fatal huge.dml 10 'larger than 64 MiB'
      rm -f "$tmp/huge.dml" ;;
    directory)
      mkdir -p "$tmp/adir.dml"
      run_case directory fatal adir.dml 5 'is a directory' ;;
    missing-file)
      run_case missing-file fatal missing.dml 5 'No such file or directory' ;;
  esac
  # generated inputs can be large: drop each after its case
  find "$tmp" -maxdepth 1 -type f -name '*.dml' -delete
}

echo "stress-testing $dmlc (timeout ${timeout_s}s per case)"
for c in $cases; do
  one_case "$c"
done
echo
echo "$npass passed, $nfail failed${failed_names:+:$failed_names}"
[ "$nfail" -eq 0 ]
