#!/usr/bin/env bash
# Build and run every libFuzzer target for a bounded time under ASan + UBSan.
# Usage: fuzz/run.sh [seconds per target, default 60] [target ...]
# New inputs go to a scratch directory, not to the committed seed corpus;
# a crash leaves its input in fuzz/artifacts/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd fuzz && ls fuzz_*.c | sed 's/\.c$//'))
fuzz/build.sh "${targets[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p fuzz/artifacts
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
for t in "${targets[@]}"; do
    seeds="fuzz/corpus/${t#fuzz_}"
    mkdir -p "$work/$t"
    log="$work/$t.log"
    echo "== $t: ${SECONDS_PER_TARGET}s, seeds from $seeds"
    # -max_len: streams need room for a two-block seed; the round trip tiles
    # its input (up to 16 times), so small inputs already make several blocks.
    # -timeout: a slow input is a bug too.
    max_len=65536
    [ "$t" != fuzz_roundtrip ] || max_len=4096
    if ! fuzz/build/"$t" -max_total_time="$SECONDS_PER_TARGET" -max_len=$max_len -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix=fuzz/artifacts/"$t"- "$work/$t" "$seeds" >"$log" 2>&1; then
        status=1
        tail -50 "$log"
        echo "FAIL: $t (input saved under fuzz/artifacts/)"
    fi
    grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
done
exit $status
