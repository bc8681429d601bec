#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan) into fuzz/build/. Usage: fuzz/build.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-clang}
OUT=fuzz/build
mkdir -p "$OUT/obj"
# UBSan findings abort (no recovery), so libFuzzer records them as crashes.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-std=c11 -O1 -g -fno-omit-frame-pointer -D_GNU_SOURCE -DENEC_STATIC -Wall -Wextra -Werror $SAN"

# The C library only (every csrc/<layer>/*.c but the Python bindings, which
# include Python.h), instrumented for coverage; a new layer is picked up as it lands.
objs=()
for src in $(grep -L 'Python\.h' csrc/*/*.c); do
    obj="$OUT/obj/$(echo "$src" | tr / _).o"
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find csrc -name '*.h' -newer "$obj")" ]; then
        $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
    fi
    objs+=("$obj")
done

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd fuzz && ls fuzz_*.c | sed 's/\.c$//'))
for t in "${targets[@]}"; do
    $CC $CFLAGS -fsanitize=fuzzer "fuzz/$t.c" "${objs[@]}" -pthread -lm -o "$OUT/$t"
    echo "built $OUT/$t"
done
