#!/bin/sh
# check_exports.sh - the shared library exports exactly the ENEC_API functions
# of the public header: nothing internal leaks, nothing public is hidden.
# Usage: tests/c/check_exports.sh build/libenec.so csrc/enec.h
set -eu
so=$1 header=$2
NM=${NM:-nm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Defined dynamic symbols, without the loader's own (_init, _fini, and the
# like, which some toolchains list).
"$NM" -D --defined-only "$so" | awk '{print $NF}' | grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' |
    sed 's/@.*//' | sort -u >"$tmp/exported"
# Every declaration line `ENEC_API <type> <name>(...`.
sed -n -E 's/^ENEC_API[^(]*[^A-Za-z0-9_]([A-Za-z0-9_]+)[[:space:]]*\(.*/\1/p' "$header" | sort -u >"$tmp/declared"
status=0
if grep -v '^enec_' "$tmp/exported" >"$tmp/bad"; then
    echo "$so exports symbols without the enec_ prefix:" >&2; cat "$tmp/bad" >&2; status=1
fi
if comm -23 "$tmp/exported" "$tmp/declared" | grep . >"$tmp/bad"; then
    echo "$so exports symbols that $header does not declare ENEC_API:" >&2; cat "$tmp/bad" >&2; status=1
fi
if comm -13 "$tmp/exported" "$tmp/declared" | grep . >"$tmp/bad"; then
    echo "$so is missing public functions of $header:" >&2; cat "$tmp/bad" >&2; status=1
fi
[ "$(wc -l <"$tmp/declared")" -gt 0 ] || { echo "no ENEC_API declarations found in $header" >&2; status=1; }
[ $status -ne 0 ] || echo "$so: exports the $(wc -l <"$tmp/declared") ENEC_API functions of $header, nothing else"
exit $status
