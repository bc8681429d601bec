#!/bin/sh
# check_exports.sh - the shared library exports exactly the ENEC_API functions
# of the public header: nothing internal leaks, nothing public is hidden; and
# every global symbol of the static library starts with enec_ (a static link
# has no visibility to keep internal names out of the program's namespace).
# Usage: tests/c/check_exports.sh build/libenec.so csrc/enec.h [build/libenec.a]
set -eu
so=$1 header=$2 archive=${3:-}
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
if [ -n "$archive" ]; then
    "$NM" --defined-only "$archive" | awk 'NF == 3 && $2 ~ /^[A-Z]$/ && $3 !~ /^enec_/ {print $3}' | sort -u >"$tmp/bad"
    if [ -s "$tmp/bad" ]; then
        echo "$archive defines global symbols without the enec_ prefix (make them static or prefix them):" >&2
        cat "$tmp/bad" >&2; status=1
    fi
fi
[ "$(wc -l <"$tmp/declared")" -gt 0 ] || { echo "no ENEC_API declarations found in $header" >&2; status=1; }
[ $status -ne 0 ] || echo "$so: exports the $(wc -l <"$tmp/declared") ENEC_API functions of $header, nothing else${archive:+; $archive: every global symbol enec_*}"
exit $status
