#!/bin/sh
# Build (and in smoke mode, briefly run) every libFuzzer target in tests/fuzz.
#   sh tools/fuzz.sh build          build/fuzz/fuzz_*
#   sh tools/fuzz.sh smoke [SECS]   build, then run each for SECS (default 10) seconds
#   sh tools/fuzz.sh run NAME SECS  run one target longer
# A target may name extra libraries on a line "// fuzz-libs: -lz" and
# extra flags on "// fuzz-cflags: ...".
set -e
cd "$(dirname "$0")/.."
mode=${1:-build}
secs=${2:-10}
CC=${FUZZ_CC:-clang}
out=build/fuzz
mkdir -p "$out"
kit="sdk/strata-test.c host/request.c host/arena.c host/options.c"
for src in tests/fuzz/fuzz_*.c; do
    [ -f "$src" ] || continue
    name=$(basename "$src" .c)
    libs=$(sed -n 's|^// fuzz-libs:||p' "$src" | tr '\n' ' ')
    cflags=$(sed -n 's|^// fuzz-cflags:||p' "$src" | tr '\n' ' ')
    # always rebuilt: a target includes plugin sources its date does not track
    if [ "$mode" != run ]; then
        # shellcheck disable=SC2086
        $CC -g -O1 -std=gnu11 -D_GNU_SOURCE -DSTRATA_VERSION='"fuzz"' -fsanitize=fuzzer,address,undefined \
            -Isdk -Iplugins/lib -I/usr/include/iniparser $cflags "$src" $kit -o "$out/$name" -lcmocka $libs -lpthread -lm
    fi
done
[ "$mode" = build ] && exit 0
if [ "$mode" = run ]; then
    exec "$out/$2" -max_total_time="${3:-60}" "tests/fuzz/corpus/$2" 2>&1
fi
status=0
for bin in "$out"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus=""
    [ -d "tests/fuzz/corpus/$name" ] && corpus="tests/fuzz/corpus/$name"
    tmp=$(mktemp -d)
    # shellcheck disable=SC2086
    if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 "$tmp" $corpus >"$tmp.log" 2>&1; then
        echo "fuzz $name: ok ($(grep -o 'Done [0-9]* runs' "$tmp.log" | tail -1))"
    else
        echo "fuzz $name: FAILED"; tail -30 "$tmp.log"; status=1
    fi
    rm -rf "$tmp" "$tmp.log"
done
exit $status
