#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan + UBSan) into fuzz/build/. Usage: fuzz/build.sh [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
CC=${CC:-clang}
OUT=fuzz/build
# UBSan findings abort (no recovery), so libFuzzer records them as crashes.
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-O1 -g -fno-omit-frame-pointer -DENEC_STATIC $SAN"

# The C library and the NPU simulator from the Makefile's one source list
# (sources.mk), instrumented for coverage, in their own build folder.
make -s -j"$(nproc)" BUILD=$OUT CC="$CC" CFLAGS="$CFLAGS -fsanitize=fuzzer-no-link" WERROR=1 \
    $OUT/libenec.a $OUT/libenec_npu.a

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd fuzz && ls fuzz_*.c | sed 's/\.c$//'))
for t in "${targets[@]}"; do
    $CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror $CFLAGS -fsanitize=fuzzer "fuzz/$t.c" \
        $OUT/libenec_npu.a $OUT/libenec.a -pthread -lm -o "$OUT/$t"
    echo "built $OUT/$t"
done
