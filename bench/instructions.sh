#!/bin/sh
# bench/instructions.sh — `make bench-instructions`: instructions per request
# through a pipeline of N pass-through filters (N = 0, 1, 4, 16), counted by
# callgrind, so the cost of one stage is a deterministic figure (the slope).
#
# The driver (bench/drive_pipeline.c) links the host's objects and runs
# requests through runtime_build + pipeline_run in-process; callgrind counts
# only its request loop (--toggle-collect=drive_requests): no libmicrohttpd,
# no start-up. Filter: tests/fixtures/plugins/pass.c; app: plugins/hello.
# Also counted, when their plugins are built: the static-only pipeline and
# the reference pipeline (logging -> auth -> profiling -> static) on a 1 KiB
# file, with an Authorization header for a cached bcrypt user.
#
# Environment: BENCH_BUILD (build/bench), RESULTS ($BENCH_BUILD/bench-results),
# INS_REQUESTS (2000 per pipeline).
set -e
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BENCH_BUILD:-build/bench}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
RESULTS=${RESULTS:-$BUILD/bench-results}
COUNT=${INS_REQUESTS:-2000}
OUT=$RESULTS/instructions
mkdir -p "$OUT" "$BUILD/bench"

if ! command -v valgrind >/dev/null 2>&1 && [ -z "$BENCH_NO_INSTALL" ]; then
    echo "instructions: installing valgrind"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        valgrind >/dev/null 2>&1 ||
        { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install \
            -y -qq --no-install-recommends valgrind >/dev/null 2>&1; } || true
fi
if ! command -v valgrind >/dev/null 2>&1; then
    echo "instructions: skipped: valgrind is not installed"
    printf '{"skipped": "valgrind is not installed"}\n' > "$RESULTS/instructions.json"
    exit 0
fi

make --no-print-directory BUILD="$BUILD" MODE=release all testplugins >/dev/null
HOST_OBJS=$(ls "$BUILD"/obj/host/*.o | grep -v '/main\.o$')
cc -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Isdk -I/usr/include/iniparser \
    bench/drive_pipeline.c $HOST_OBJS -o "$BUILD/bench/drive_pipeline" \
    -lmicrohttpd -liniparser -ldl -lpthread -lm
DRIVE=$BUILD/bench/drive_pipeline
PP=$BUILD/plugins:$BUILD/testplugins

# Fixtures for the static and reference pipelines.
mkdir -p "$OUT/docroot"
head -c 1024 /dev/zero | tr '\0' 'a' > "$OUT/docroot/1k.html"
rm -f "$OUT/htpasswd"
htpasswd -c -b -B -C 5 "$OUT/htpasswd" bench benchpw >/dev/null 2>&1 || true
AUTH="Authorization: Basic $(printf 'bench:benchpw' | base64)"

# count NAME CONFIG PATH [HEADER]: one callgrind run; appends a JSON line.
count() {
    name=$1 ini=$2 path=$3
    shift 3
    if ! "$DRIVE" "$ini" 10 "$path" "$@" > "$OUT/$name.check" 2>&1; then
        echo "instructions: $name: skipped: the pipeline did not answer 200:"
        sed 's/^/    /' "$OUT/$name.check"
        printf '{"name": "%s", "skipped": "did not answer 200"}\n' "$name" >> "$OUT/lines.json"
        return 0
    fi
    valgrind --tool=callgrind --toggle-collect=drive_requests \
        --callgrind-out-file="$OUT/callgrind.$name" \
        "$DRIVE" "$ini" "$COUNT" "$path" "$@" > "$OUT/$name.log" 2>&1
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' \
        "$OUT/callgrind.$name" | tail -1)
    callgrind_annotate --inclusive=no "$OUT/callgrind.$name" 2>/dev/null |
        grep -E '^ *[0-9,]+ +\(' | head -25 > "$OUT/$name.top" || true
    printf '{"name": "%s", "requests": %s, "ir": %s}\n' "$name" "$COUNT" "$ir" >> "$OUT/lines.json"
    echo "instructions: $name: $(( ir / COUNT )) instructions/request"
}

rm -f "$OUT/lines.json"
for n in 0 1 4 16; do
    ini=$OUT/pass$n.ini
    {
        printf '[server:main]\nplugin_path = %s\n\n' "$PP"
        names=""
        i=1
        while [ $i -le $n ]; do
            printf '[filter:p%d]\nuse = pass\n\n' $i
            names="$names p$i"
            i=$((i + 1))
        done
        printf '[app:hello]\nuse = hello\n\n[pipeline:main]\npipeline =%s hello\n' "$names"
    } > "$ini"
    count "pass$n" "$ini" /x
done

if [ -f "$BUILD/plugins/static.so" ]; then
    printf '[server:main]\nplugin_path = %s\n\n[app:main]\nuse = static\nroot = %s\n' \
        "$PP" "$OUT/docroot" > "$OUT/static.ini"
    count static "$OUT/static.ini" /1k.html
else
    echo "instructions: static: skipped: $BUILD/plugins/static.so not built"
fi
missing=""
for p in logging auth profiling static; do
    [ -f "$BUILD/plugins/$p.so" ] || missing="$missing $p"
done
if [ -z "$missing" ] && [ -s "$OUT/htpasswd" ]; then
    cat > "$OUT/reference.ini" <<EOF
[server:main]
plugin_path = $PP

[filter:log]
use = logging
file = $OUT/access.log

[filter:auth]
use = auth
htpasswd = $OUT/htpasswd

[filter:prof]
use = profiling

[app:static]
use = static
root = $OUT/docroot

[pipeline:main]
pipeline = log auth prof static
EOF
    count reference "$OUT/reference.ini" /1k.html "$AUTH"
else
    echo "instructions: reference: skipped: missing plugins:$missing (or htpasswd)"
fi

# Summary JSON for report.py: lines.json plus the slope.
python3 - "$OUT/lines.json" "$RESULTS/instructions.json" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
pts = [(int(r["name"][4:]), r["ir"] / r["requests"]) for r in rows
       if r["name"].startswith("pass") and "ir" in r]
out = {"rows": rows}
if len(pts) >= 2:
    n = len(pts)
    mx = sum(p[0] for p in pts) / n
    my = sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    out["slope"] = slope
    out["intercept"] = my - slope * mx
    print("instructions: per pass-through stage (least-squares slope over N = %s): %.1f"
          % (", ".join(str(p[0]) for p in pts), slope))
json.dump(out, open(sys.argv[2], "w"), indent=1)
EOF
