#!/bin/sh
# Run every test binary and integration test; print one closing line
# "N passed, N failed". Exit non-zero on any failure.
cd "$(dirname "$0")/.."
pass=0; fail=0; failed=""
run() {   # name, command...
    name=$1; shift
    out=$("$@" 2>&1); rc=$?
    if [ $rc -eq 0 ]; then pass=$((pass+1)); echo "PASS $name";
    else fail=$((fail+1)); failed="$failed $name"; echo "FAIL $name (exit $rc)"; echo "$out" | tail -40; fi
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
for t in build/asan/tests/test_*; do
    [ -x "$t" ] && run "asan:$(basename "$t")" "$t"
done
for t in build/tsan/tests/test_*; do
    [ -x "$t" ] && run "tsan:$(basename "$t")" "$t"
done
for t in tests/integration/test_*.py; do
    [ -f "$t" ] && run "integration:$(basename "$t" .py)" python3 "$t"
done
run "fuzz-smoke" sh tools/fuzz.sh smoke 5
echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
