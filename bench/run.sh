#!/bin/sh
# bench/run.sh — `make bench`: load benchmarks of strata against its peers,
# written to BENCHMARKS.md. Steps:
#   1. install the peers that are missing (Debian packages, apt-get as root
#      or sudo): wrk, nginx-light (unless nginx is there), lighttpd,
#      python3-paste, python3-passlib, apache2-utils (htpasswd), valgrind,
#      linux-perf. Their services are not started (policy-rc.d).
#   2. build strata optimised (release, no sanitizers) into $BENCH_BUILD,
#      bench/bare_mhd.c and the bench plugin bench/plugins/sleep20.c;
#   3. bench/bench.py: every server and workload (bench/bench.py says which);
#   4. bench/instructions.sh: callgrind instructions per request;
#   5. bench/report.py: BENCHMARKS.md from this run's results only.
# Environment: BENCH_BUILD (build/bench), BENCH_RUNS (3), BENCH_DURATION (5 s),
# BENCH_PAIRS (24), BENCH_PAIR_DURATION (2 s),
# BENCH_ONLY (server names, comma-separated), BENCH_NO_INSTALL=1.
set -e
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BENCH_BUILD=${BENCH_BUILD:-build/bench}
case $BENCH_BUILD in /*) ;; *) BENCH_BUILD=$ROOT/$BENCH_BUILD ;; esac
export BENCH_BUILD
started=$(date +%s)

# ---- 1. peers
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if [ -z "$BENCH_NO_INSTALL" ]; then
    missing=""
    for p in wrk lighttpd python3-paste python3-passlib apache2-utils valgrind linux-perf; do
        installed "$p" || missing="$missing $p"
    done
    if ! installed nginx-light && ! installed nginx && ! installed nginx-core; then
        missing="$missing nginx-light"
    fi
    if [ -n "$missing" ]; then
        echo "bench: installing:$missing"
        if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
        # Keep the packages' own services (nginx, lighttpd on port 80) stopped.
        made_policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null &&
                $SUDO chmod 755 /usr/sbin/policy-rc.d && made_policy=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        if ! { $SUDO apt-get update -qq &&
               $SUDO apt-get install -y -qq --no-install-recommends $missing; }; then
            echo "bench: could not install every peer; the missing ones are skipped"
        fi
        [ -n "$made_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
    fi
fi
for t in wrk htpasswd; do
    command -v $t >/dev/null 2>&1 || { echo "bench: $t is required and missing"; exit 1; }
done

# ---- 2. builds
make --no-print-directory BUILD="$BENCH_BUILD" MODE=release all
mkdir -p "$BENCH_BUILD/bench"
cc -O2 -g -std=gnu11 -Wall -Wextra bench/bare_mhd.c -o "$BENCH_BUILD/bench/bare_mhd" \
    -lmicrohttpd -lpthread
cc -O2 -g -std=gnu11 -Wall -Wextra -shared -fPIC -fvisibility=hidden -Isdk \
    bench/plugins/sleep20.c -o "$BENCH_BUILD/bench/sleep20.so"

# ---- 3-5. measure, count, report
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
RESULTS=$BENCH_BUILD/bench-results
export RESULTS
rm -f "$RESULTS/results.json" "$RESULTS/instructions.json"
$PY bench/bench.py
sh bench/instructions.sh || echo "bench: instructions.sh failed; its table is left out"
$PY bench/report.py "$RESULTS" BENCHMARKS.md
echo "bench: BENCHMARKS.md written in $(( $(date +%s) - started )) s"
