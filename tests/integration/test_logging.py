"""The logging plugin against the running server: every request gives one
whole line under concurrent keep-alive load, goaccess parses the log,
SIGUSR1 after a rename moves new lines to a fresh file, SIGTERM right after
a burst loses nothing, json lines are valid, an unwritable log never stops
requests."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, run_tests, strata, write_ini  # noqa: E402

BODY = ("x" * 1023 + "\n").encode()   # a 1 KiB static file

INI = """
[server:main]
threads = 8

[pipeline:main]
pipeline = log files

[filter:log]
use = logging
file = %(here)s/access.log
{extra}

[app:files]
use = static
root = %(here)s/www
"""

COMBINED = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
    r'"GET /f\.txt\?c=(\d+)&n=(\d+) HTTP/1\.1" 200 1024 "http://ref\.test/\d+" '
    r'"loadgen/1\.0 \(\\"quoted\\" \\\\ agent\)"$')


def server(extra="", **kw):
    return Server(INI.format(extra=extra), files={"www/f.txt": BODY}, **kw)


class CountingConnection(http.client.HTTPConnection):
    connects = 0
    lock = threading.Lock()

    def connect(self):
        with CountingConnection.lock:
            CountingConnection.connects += 1
        super().connect()


def load(port, conns, per_conn, first=0):
    """conns threads, each one keep-alive connection sending per_conn GETs.
    Returns (number of 200 answers, errors, connections opened)."""
    CountingConnection.connects = 0
    ok = [0] * conns
    errors = []

    def run(c):
        conn = CountingConnection("127.0.0.1", port, timeout=30)
        try:
            for n in range(per_conn):
                conn.request("GET", "/f.txt?c=%d&n=%d" % (first + c, n), headers={
                    "Referer": "http://ref.test/%d" % n,
                    "User-Agent": 'loadgen/1.0 ("quoted" \\ agent)'})
                r = conn.getresponse()
                body = r.read()
                if r.status == 200 and body == BODY:
                    ok[c] += 1
                else:
                    errors.append((r.status, body[:80]))
        except Exception as e:  # reported by the caller's asserts
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return sum(ok), errors, CountingConnection.connects


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    assert not data or data.endswith(b"\n"), "last line cut: %r" % data[-80:]
    return data.decode("utf-8", "strict").split("\n")[:-1]


def wait_lines(path, want, timeout=10):
    deadline = time.time() + timeout
    lines = read_lines(path)
    while len(lines) < want and time.time() < deadline:
        time.sleep(0.05)
        lines = read_lines(path)
    return lines


def check_ids(lines, conns, per_conn, first=0):
    """Every (c, n) exactly once, every line well formed."""
    seen = set()
    for line in lines:
        m = COMBINED.match(line)
        assert m, "malformed line: %r" % line
        key = (int(m.group(1)), int(m.group(2)))
        assert key not in seen, "line logged twice: %r" % line
        seen.add(key)
    want = {(first + c, n) for c in range(conns) for n in range(per_conn)}
    assert seen == want, "missing %d, unexpected %d" % (len(want - seen), len(seen - want))


# ---- 20,000 requests over 32 keep-alive connections ----

_big = {}


def big_log():
    """Run the load once; both tests below read its log."""
    if "path" in _big:
        return _big
    with server() as s:
        t0 = time.time()
        ok, errors, connects = load(s.port, 32, 625)
        _big["elapsed"] = time.time() - t0
        assert not errors, errors[:5]
        assert ok == 20000, ok
        path = os.path.join(s.dir, "access.log")
        # live: the writer flushes at least once a second, before any stop
        lines = wait_lines(path, 20000, timeout=10)
        _big["live_lines"] = len(lines)
        s.stop()
        _big["lines"] = read_lines(path)
        _big["path"] = path
        _big["connects"] = connects
    return _big


def test_load_20000_requests_32_keepalive_conns_exactly_20000_lines():
    b = big_log()
    print("     20000 requests in %.1fs over %d connections" % (b["elapsed"], b["connects"]))
    assert b["connects"] == 32, "keep-alive broken: %d connections" % b["connects"]
    assert b["live_lines"] == 20000, "only %d lines before the stop" % b["live_lines"]
    assert len(b["lines"]) == 20000, len(b["lines"])
    check_ids(b["lines"], 32, 625)


def test_goaccess_parses_combined_log_with_zero_invalid_lines():
    goaccess = shutil.which("goaccess")
    if not goaccess:
        print("     SKIP: goaccess is not installed (Debian package 'goaccess')")
        return
    b = big_log()
    out = b["path"] + ".json"
    p = subprocess.run([goaccess, b["path"], "--log-format=COMBINED", "--no-global-config",
                        "-o", out], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    with open(out) as f:
        general = json.load(f)["general"]
    print("     goaccess: total %d, valid %d, failed %d" % (
        general["total_requests"], general["valid_requests"], general["failed_requests"]))
    assert general["failed_requests"] == 0, general
    assert general["valid_requests"] == 20000, general


# ---- rotation ----

def test_rename_then_sigusr1_new_lines_in_fresh_file_none_lost():
    with server() as s:
        path = os.path.join(s.dir, "access.log")
        ok, errors, _ = load(s.port, 8, 50, first=0)
        assert ok == 400 and not errors, (ok, errors[:3])
        os.rename(path, path + ".1")
        # in flight while the signal arrives
        t = threading.Thread(target=load, args=(s.port, 4, 50, 100))
        t.start()
        os.kill(s.proc.pid, signal.SIGUSR1)   # the supervisor relays it to the workers
        deadline = time.time() + 10
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.02)
        t.join(60)
        assert os.path.exists(path), "no fresh file after SIGUSR1:\n" + s.log()
        ok, errors, _ = load(s.port, 8, 50, first=200)
        assert ok == 400 and not errors, (ok, errors[:3])
        s.stop()
        old, new = read_lines(path + ".1"), read_lines(path)
    every = old + new
    assert len(every) == 1000, (len(old), len(new))
    assert len(ids(every)) == 1000
    after = {(200 + c, n) for c in range(8) for n in range(50)}
    assert after <= ids(new), "lines after the reopen went to the old file"
    # Lines of requests answered before the rename normally reach the old
    # file; one whose on_complete ran after the reopen goes to the new one,
    # which loses nothing.
    before = {(c, n) for c in range(8) for n in range(50)}
    late = before - ids(old)
    print("     old file %d lines, new file %d; %d answered before the rename in the new one"
          % (len(old), len(new), len(late)))
    assert len(late) < len(before), "the old file got none of its lines"
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o640 & ~current_umask(), oct(st.st_mode)


def ids(lines):
    out = set()
    for line in lines:
        m = COMBINED.match(line)
        assert m, "malformed line: %r" % line
        out.add((int(m.group(1)), int(m.group(2))))
    return out


def current_umask():
    m = os.umask(0)
    os.umask(m)
    return m


# ---- stop ----

def test_sigterm_right_after_burst_loses_none():
    # flush = 60: only the graceful stop can write these lines
    with server("flush = 60\nbuffer = 1M") as s:
        path = os.path.join(s.dir, "access.log")
        ok, errors, _ = load(s.port, 16, 150)
        assert ok == 2400 and not errors, (ok, errors[:3])
        assert len(read_lines(path)) < 2400, "written before the stop: the test proves nothing"
        rc = s.stop(signal.SIGTERM)
        assert rc == 0, "exit %s:\n%s" % (rc, s.log())
        lines = read_lines(path)
    assert len(lines) == 2400, len(lines)
    check_ids(lines, 16, 150)


# ---- formats and bytes ----

def test_json_lines_valid_with_stage_timings():
    with server("format = json") as s:
        st, _, _ = s.get("/f.txt?a=%22b%22", headers={"User-Agent": 'x"\\\x7f'})
        assert st == 200
        st, _, _ = s.get("/missing")
        assert st == 404
        s.stop()
        lines = read_lines(os.path.join(s.dir, "access.log"))
    assert len(lines) == 2, lines
    a, b = sorted((json.loads(l) for l in lines), key=lambda j: j["status"])
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", a["time"]), a
    assert a["method"] == "GET" and a["path"] == "/f.txt" and a["query"] == "a=%22b%22", a
    assert a["status"] == 200 and a["bytes"] == 1024 and a["protocol"] == "HTTP/1.1", a
    assert a["user_agent"] == 'x"\\\x7f' and a["referer"] is None and a["user"] is None, a
    assert isinstance(a["duration_us"], int) and a["duration_us"] >= 0, a
    stages = [t["stage"] for t in a["timings"]]
    assert stages == ["filter:log", "app:files"], a["timings"]
    assert a["timings"][0]["total_us"] >= a["timings"][1]["total_us"], a["timings"]
    assert b["status"] == 404 and b["query"] is None, b


def test_head_and_304_have_no_bytes():
    with server('format = %m %>s %b %B') as s:
        st, h, _ = s.get("/f.txt")
        assert st == 200
        st, _, _ = s.request("HEAD", "/f.txt")
        assert st == 200
        st, _, _ = s.get("/f.txt", headers={"If-None-Match": h["etag"]})
        assert st == 304, st
        s.stop()
        lines = read_lines(os.path.join(s.dir, "access.log"))
    # one buffer per thread: lines of different threads need not be in order
    assert sorted(lines) == ["GET 200 1024 1024", "GET 304 - 0", "HEAD 200 - 0"], lines


def test_stdout_on_a_pipe_whole_lines():
    ini = INI.format(extra="").replace("%(here)s/access.log", "-")
    with Server(ini, files={"www/f.txt": BODY}) as s:
        ok, errors, _ = load(s.port, 8, 100)
        assert ok == 800 and not errors, (ok, errors[:3])
        s.stop()
        out = [l for l in s.stdout().split("\n") if l]
    check_ids(out, 8, 100)


def test_check_request_logs_the_time_of_the_request():
    # `strata check --request` runs one request without a server; its log
    # line must carry today's date, not the epoch.
    ini = INI.format(extra="").replace("%(here)s/access.log", "-")
    path = write_ini(ini, files={"www/f.txt": BODY})
    rc, out, err = strata("check", path, "--request", "GET /f.txt")
    assert rc == 0, (rc, out, err)
    line = [l for l in out.split("\n") if '"GET /f.txt' in l]
    assert len(line) == 1, (out, err)
    assert re.match(r'^127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/%s:\d\d:\d\d:\d\d [+-]\d{4}\] '
                    r'"GET /f\.txt HTTP/1\.1" 200 1024 "-" "-"$' % time.strftime("%Y"),
                    line[0]), line[0]


# ---- failures ----

def test_unwritable_file_requests_flow_errors_at_most_once_a_second():
    ini = INI.format(extra="").replace("%(here)s/access.log", "/dev/full") \
        .replace("[filter:log]", "[filter:log]\nflush = 0.05")
    with Server(ini, files={"www/f.txt": BODY}) as s:
        t0 = time.time()
        for i in range(10):
            ok, errors, _ = load(s.port, 4, 25)
            assert ok == 100 and not errors, (ok, errors[:3])
            time.sleep(0.1)
        elapsed = time.time() - t0
        s.wait_log(r"cannot write to '/dev/full'")
        reports = [l for l in s.log().split("\n") if "cannot write to '/dev/full'" in l]
    assert 1 <= len(reports) <= int(elapsed) + 2, (elapsed, reports)


def test_unknown_directive_is_a_load_error_naming_it():
    path = write_ini(INI.format(extra='format = %h %Z "%r"'), files={"www/f.txt": BODY})
    rc, out, err = strata("check", path)
    assert rc != 0, out + err
    assert "unknown directive '%Z'" in err, err
    assert "format" in err, err


run_tests(globals())
