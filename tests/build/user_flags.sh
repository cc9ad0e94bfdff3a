#!/bin/sh
# The build the README runs (default options) must not turn warnings into
# errors: a newer compiler or an unknown CPU would break a user's build.
# -DDMLC_WERROR=ON (CI, tests/run_all.sh) must. Configures only.
# usage: user_flags.sh SOURCE_DIR
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags() { # the compile commands of a fresh configure with the given options
  dir=$tmp/$1; shift
  cmake -S "$src" -B "$dir" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@" >/dev/null ||
    { echo "FAIL: cmake configure $*"; exit 1; }
  cat "$dir/compile_commands.json"
}
if flags user | grep -q -- '-Werror'; then
  echo "FAIL: the default build compiles with -Werror:"; flags user | grep -m3 -- '-Werror'; exit 1
fi
flags ci -DDMLC_WERROR=ON | grep -q -- '-Werror' || { echo "FAIL: -DDMLC_WERROR=ON adds no -Werror"; exit 1; }
echo "ok: default build without -Werror, DMLC_WERROR=ON with it"
