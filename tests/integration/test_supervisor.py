"""The supervisor: crash isolation, zero-downtime reload, --reload, the
hung-request watchdog, max_requests, signals, --pid-file and --daemon.

Worker pids are read from /proc (the supervisor's children). Failed
requests are counted by a keep-alive load generator (Python threads with
http.client; wrk as well when it is installed) and printed as
"failed requests: ..." lines so the counts can be reported.
"""
import http.client
import os
import random
import re
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import ROOT, STRATA, TESTPLUGINS, Server, run_tests

SERVER = """
[server:main]
host = 127.0.0.1
workers = %(workers)s
threads = 8
plugin_path = {TESTPLUGINS}
graceful_timeout = 5
request_warn_after = 0

[DEFAULT]
workers = 1
name = gen-0

[app:echo]
use = echo
name = %(name)s
sleep = 30

[app:boom]
use = crash

[app:ev]
use = events

[composite:main]
use = urlmap
/ = echo
/boom = boom
/ev = ev
"""

COUNTS = []          # (test, what, failed, total) for the summary at the end


def ini(workers=1, name="gen-0", server_extra="", sections=""):
    text = SERVER.replace("workers = 1\n", "workers = %d\n" % workers)
    text = text.replace("name = gen-0\n", "name = %s\n" % name)
    text = text.replace("request_warn_after = 0\n", "request_warn_after = 0\n" + server_extra)
    return text + sections


def write_ini(s, text):
    with open(s.ini + ".tmp", "w") as f:
        f.write(text.replace("{TESTPLUGINS}", TESTPLUGINS))
    os.replace(s.ini + ".tmp", s.ini)


def workers(s):
    """Pids of the supervisor's children (its workers)."""
    pid = s.proc.pid
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return set(int(x) for x in f.read().split())
    except OSError:
        return set()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def wait_for(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.01)
    raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))


def count_log(s, pattern):
    return sum(1 for line in s.log().splitlines() if re.search(pattern, line))


def wait_log_count(s, pattern, n, timeout):
    wait_for(lambda: count_log(s, pattern) >= n, timeout,
             "%d log lines matching %r in:\n%s" % (n, pattern, s.log()[-4000:]))


def ready_workers(s, n, timeout=10):
    """Wait until the supervisor has exactly n live children; return them."""
    return wait_for(lambda: (lambda w: w if len(w) == n else None)(workers(s)), timeout,
                    "%d workers (have %s)" % (n, workers(s)))


class Load:
    """`conns` threads, each one keep-alive connection sending GET `path`
    in a loop; a failure is an exception (refused, reset, closed under a
    request) or a status other than 200.

    With `think` (seconds, lo..hi) a client idles between requests and
    behaves like urllib3, curl or a browser: it does not reuse a
    connection the server has closed, and it retries a GET once on a
    fresh connection when a reused one dies before any answer (RFC 9110
    9.2.2) — the race every HTTP/1.1 server has when it closes an idle
    keep-alive connection just as the client sends. Retries are counted."""

    def __init__(self, port, conns=64, path="/", expect=None, think=None):
        self.port, self.path, self.expect, self.think = port, path, expect, think
        self.ok = self.failed = self.retried = 0
        self.errors = []
        self.bodies = {}
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.last_ok = time.time()
        self.max_gap = 0.0
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(conns)]
        for t in self.threads:
            t.start()

    def _one(self, c):
        c.request("GET", self.path)
        r = c.getresponse()
        return r, r.read()

    def _run(self):
        c = None
        while not self.stop_ev.is_set():
            if self.think:
                time.sleep(random.uniform(*self.think))
                if c is not None and c.sock is not None and \
                        select.select([c.sock], [], [], 0)[0]:
                    c.close()
                    c = None
            try:
                reused = c is not None
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                try:
                    r, body = self._one(c)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    if not (self.think and reused):
                        raise
                    with self.lock:
                        self.retried += 1
                    c.close()
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                    r, body = self._one(c)
                good = r.status == 200 and (self.expect is None or self.expect(body))
                if r.will_close:
                    c.close()
                    c = None
                with self.lock:
                    if good:
                        now = time.time()
                        self.max_gap = max(self.max_gap, now - self.last_ok)
                        self.last_ok = now
                        self.ok += 1
                        key = body.split(b"\n")[0]
                        self.bodies[key] = self.bodies.get(key, 0) + 1
                    else:
                        self.failed += 1
                        self.errors.append("status %d: %r" % (r.status, body[:80]))
            except Exception as e:  # noqa: BLE001 - every kind of failure counts
                with self.lock:
                    self.failed += 1
                    self.errors.append(repr(e))
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()

    def wait_ok(self, n, timeout=10):
        wait_for(lambda: self.ok >= n, timeout, "%d answers (have %d)" % (n, self.ok))

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(20)
        return self


def record(test, what, failed, total, errors=()):
    COUNTS.append((test, what, failed, total))
    print("    failed requests: %s %s: %d of %d%s" % (test, what, failed, total,
          (" (e.g. %s)" % errors[0]) if errors else ""), flush=True)


# ---- crashes ----------------------------------------------------------------

def crash_under_load(n_workers):
    with Server(ini(n_workers)) as s:
        pids = ready_workers(s, n_workers)
        load = Load(s.port, conns=16)
        load.wait_ok(200)
        victim = min(pids)
        t0 = time.time()
        os.kill(victim, signal.SIGSEGV)
        new = wait_for(lambda: workers(s) - pids - {victim} if victim not in workers(s) else None,
                       1.0, "a new worker pid within 1 s")
        (newpid,) = new
        # the new worker serves: its pid is in the scoreboard-ready log line
        s.wait_log(r"worker \d+ \(pid %d\) ready" % newpid, timeout=1.0 - (time.time() - t0) + 0.5)
        elapsed = time.time() - t0
        before = load.ok
        load.wait_ok(before + 300)
        load.stop()
        s.wait_log(r"pid %d\) died of SIGSEGV" % victim)
        s.wait_log(r"fatal signal SIGSEGV \(sent by pid \d+\)")
        assert load.max_gap < 1.5, "no answer for %.2f s" % load.max_gap
        if n_workers > 1:
            assert pids - {victim} <= workers(s), "the other worker was touched"
        record("kill -SEGV, workers=%d" % n_workers, "(in flight on the killed worker)",
               load.failed, load.ok + load.failed, load.errors)
        # only the connections the dead worker held can fail
        assert load.failed <= 16, load.errors[:5]
        print("    new worker serving %.0f ms after the kill" % (elapsed * 1000), flush=True)


def test_kill_segv_under_load_workers_1():
    crash_under_load(1)


def test_kill_segv_under_load_workers_2():
    crash_under_load(2)


def crash_plugin(n_workers):
    with Server(ini(n_workers)) as s:
        pids = ready_workers(s, n_workers)
        load = Load(s.port, conns=8)
        load.wait_ok(100)
        for path, sig in (("/boom/crash", "SIGSEGV"), ("/boom/abort", "SIGABRT")):
            try:
                st = s.get(path, timeout=10)[0]
            except (http.client.HTTPException, OSError):
                st = None
            assert st is None, "a crashing request got an answer: %s" % st
            s.wait_log(r"fatal signal %s .*in \[app:boom\] \(plugin crash\)" % sig)
            s.wait_log(r"died of %s while serving 'GET /boom/%s' from 127\.0\.0\.1 in \[app:boom\]"
                       % (sig, path.rsplit("/", 1)[1]))
        ready_workers(s, n_workers)
        now = workers(s)
        assert len(pids - now) <= 2, (pids, now)     # one worker per crash at most
        before = load.ok
        load.wait_ok(before + 100)
        load.stop()
        assert s.get("/boom/ok")[0] == 200
        record("crash plugin, workers=%d" % n_workers, "(other clients, 2 crashes)",
               load.failed, load.ok + load.failed, load.errors)
        # the clients on the crashed worker's connections may fail, no more
        assert load.failed <= 16, load.errors[:5]


def test_crash_plugin_costs_only_its_worker_workers_1():
    crash_plugin(1)


def test_crash_plugin_costs_only_its_worker_workers_2():
    crash_plugin(2)


def test_crash_loop_backs_off_and_recovers():
    with Server(ini(1)) as s:
        ready_workers(s, 1)
        for _ in range(4):
            try:
                s.get("/boom/crash", timeout=10)
            except (http.client.HTTPException, OSError):
                pass
        s.wait_log(r"crashing quickly: next worker in 0\.\d+ s")
        # the last crash is followed by a wait, then a worker that serves
        t0 = time.time()
        st, _, body = s.get("/", timeout=10)
        assert st == 200 and body.startswith(b"app: gen-0"), (st, body)
        assert time.time() - t0 < 3
        assert count_log(s, r"died of SIGSEGV") == 4, s.log()


# ---- reload -------------------------------------------------------------------

def reload_under_load(n_workers, reloads=10, conns=64):
    with Server(ini(n_workers, "gen-0")) as s:
        ready_workers(s, n_workers)
        load = Load(s.port, conns=conns, expect=lambda b: b.startswith(b"app: gen-"))
        idle = Load(s.port, conns=8, expect=lambda b: b.startswith(b"app: gen-"),
                    think=(0.05, 2.0))
        load.wait_ok(500, timeout=20)
        for i in range(1, reloads + 1):
            write_ini(s, ini(n_workers, "gen-%d" % i))
            os.kill(s.proc.pid, signal.SIGHUP)
            wait_log_count(s, r"reloaded: generation \d+ serving", i, timeout=15)
            want = ("app: gen-%d" % i).encode()
            wait_for(lambda: s.get("/")[2].startswith(want), 3, "the new config answering")
            time.sleep(0.1)
        before = load.ok
        load.wait_ok(before + 200)
        load.stop()
        idle.stop()
        record("%d SIGHUPs, %d keep-alive connections, workers=%d" % (reloads, conns, n_workers),
               "", load.failed, load.ok + load.failed, load.errors)
        record("%d SIGHUPs, %d keep-alive connections, workers=%d" % (reloads, conns, n_workers),
               "(8 more clients idle 0-2 s between requests; %d retried on a fresh connection)"
               % idle.retried, idle.failed, idle.ok + idle.failed, idle.errors)
        assert load.failed == 0, (load.failed, load.errors[:10])
        assert idle.failed == 0, (idle.failed, idle.errors[:10])
        assert load.max_gap < 1.0, "no answer for %.2f s" % load.max_gap
        # the old generations are gone, the listening socket is still open
        ready_workers(s, n_workers, timeout=10)
        assert s.get("/")[2].startswith(("app: gen-%d" % reloads).encode())


def test_ten_sighups_under_load_zero_failures_workers_1():
    reload_under_load(1)


def test_ten_sighups_under_load_zero_failures_workers_2():
    reload_under_load(2)


def test_ten_sighups_under_wrk():
    wrk = shutil.which("wrk")
    if not wrk:
        print("    wrk not installed: skipped", flush=True)
        return
    with Server(ini(2)) as s:
        ready_workers(s, 2)
        p = subprocess.Popen([wrk, "-t2", "-c64", "-d8s", "http://127.0.0.1:%d/" % s.port],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(0.5)
        for i in range(1, 11):
            os.kill(s.proc.pid, signal.SIGHUP)
            wait_log_count(s, r"reloaded: generation \d+ serving", i, timeout=15)
            time.sleep(0.2)
        out = p.communicate(timeout=30)[0].decode()
        total = int(re.search(r"(\d+) requests in", out).group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        sock = sum(int(x) for x in m.groups()) if m else 0
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        bad = int(m.group(1)) if m else 0
        record("10 SIGHUPs under wrk -c64, workers=2", "(socket errors + non-2xx)", sock + bad,
               total)
        assert sock == 0 and bad == 0, out


def test_broken_config_on_sighup_keeps_the_old_pipeline():
    with Server(ini(1, "gen-0")) as s:
        (pid,) = ready_workers(s, 1)
        load = Load(s.port, conns=8, expect=lambda b: b.startswith(b"app: gen-0"))
        load.wait_ok(50)
        # 1: a bad [server:main] value: refused by the supervisor itself
        write_ini(s, ini(1, "gen-1").replace("threads = 8", "threads = lots"))
        os.kill(s.proc.pid, signal.SIGHUP)
        wait_log_count(s, r"reload failed: .*the old workers keep serving", 1, timeout=10)
        s.wait_log(r"\[server:main\] threads")
        # 2: an unknown plugin option: refused by the new worker
        write_ini(s, ini(1, "gen-2").replace("use = echo\n", "use = echo\nbogus = 1\n"))
        os.kill(s.proc.pid, signal.SIGHUP)
        wait_log_count(s, r"reload failed: .*the old workers keep serving", 2, timeout=10)
        s.wait_log(r"\[app:echo\] bogus: unknown option")
        # 3: a plugin's create() fails in the new worker
        write_ini(s, ini(1, "gen-3", sections="[app:bad]\nuse = create_fails\n"))
        os.kill(s.proc.pid, signal.SIGHUP)
        wait_log_count(s, r"reload failed: .*the old workers keep serving", 3, timeout=10)
        s.wait_log(r"\[app:bad\] file: cannot open")
        wait_for(lambda: workers(s) == {pid}, 5, "only the old worker (have %s)" % workers(s))
        assert s.get("/")[2].startswith(b"app: gen-0")
        assert "crashing quickly" not in s.log() and "died of" not in s.log(), s.log()
        assert "while draining" not in s.log(), s.log()
        # 3: a good config afterwards reloads
        write_ini(s, ini(1, "gen-4"))
        load.expect = lambda b: b.startswith(b"app: gen-0") or b.startswith(b"app: gen-4")
        os.kill(s.proc.pid, signal.SIGHUP)
        s.wait_log(r"reloaded: generation \d+ serving")
        wait_for(lambda: s.get("/")[2].startswith(b"app: gen-4"), 3, "gen-4 answering")
        load.stop()
        record("broken config reloads", "", load.failed, load.ok + load.failed, load.errors)
        assert load.failed == 0, load.errors[:5]


# ---- --reload ------------------------------------------------------------------

VARIANT = r"""
#include "strata.h"
#include <string.h>
STRATA_HOST_DECLARE;
static int handle(void *inst, strata_request *req)
{
    return strata->respond(req, 200, "text/plain", ANSWER "\n", strlen(ANSWER) + 1);
}
STRATA_PLUGIN_DEFINE = {
    STRATA_PLUGIN_HEADER, .name = "variant", .version = "1", .summary = "test: fixed answer",
    .kind = STRATA_APP, .flags = STRATA_NONBLOCKING, .host = &strata, .handle = handle,
};
"""


def build_variant(d, answer, out):
    src = os.path.join(d, "variant.c")
    with open(src, "w") as f:
        f.write(VARIANT)
    subprocess.run(["cc", "-shared", "-fPIC", "-I", os.path.join(ROOT, "sdk"),
                    "-DANSWER=\"%s\"" % answer, src, "-o", out], check=True)


def test_reload_flag_picks_up_config_edit_rebuilt_so_and_watched_file():
    d = tempfile.mkdtemp(prefix="strata-variant-")
    so = os.path.join(d, "variant.so")
    build_variant(d, "one", so)
    watched = os.path.join(d, "watched.txt")
    with open(watched, "w") as f:
        f.write("1\n")
    text = ini(1, sections="[app:v]\nuse = %s\n\n[app:w]\nuse = events\nwatch = %s\n"
               % (so, watched)).replace("/ev = ev\n", "/ev = ev\n/v = v\n/w = w\n")
    with Server(text, args=["--reload"]) as s:
        ready_workers(s, 1)
        assert s.get("/v")[2] == b"one\n"
        load = Load(s.port, conns=8)
        # a config edit
        write_ini(s, text.replace("name = gen-0", "name = edited"))
        t0 = time.time()
        wait_for(lambda: s.get("/")[2].startswith(b"app: edited"), 2, "the edited config")
        print("    config edit answering after %.2f s" % (time.time() - t0), flush=True)
        # a rebuilt .so (the linker writes a new file, as `make` does)
        tmp = os.path.join(d, "variant.so.new")
        build_variant(d, "two", tmp)
        os.replace(tmp, so)
        t0 = time.time()
        wait_for(lambda: s.get("/v")[2] == b"two\n", 2, "the rebuilt plugin")
        print("    rebuilt .so answering after %.2f s" % (time.time() - t0), flush=True)
        # a .so rebuilt in place (cc -o over the same file)
        build_variant(d, "three", so)
        t0 = time.time()
        wait_for(lambda: s.get("/v")[2] == b"three\n", 2, "the plugin rebuilt in place")
        # a file a plugin asked the host to watch
        n = count_log(s, r"reloading \(")
        with open(watched, "a") as f:
            f.write("2\n")
        wait_log_count(s, r"reloading \(", n + 1, timeout=2)
        s.wait_log(r"reloading \(changed: .*watched\.txt\)")
        load.stop()
        record("--reload edits", "", load.failed, load.ok + load.failed, load.errors)
        assert load.failed == 0, load.errors[:5]


# ---- watchdog, max_requests ------------------------------------------------------

def test_hung_stage_gets_its_worker_replaced():
    extra = "hung_restart_after = 1\n"
    text = ini(1, server_extra=extra).replace("graceful_timeout = 5", "graceful_timeout = 1")
    with Server(text.replace("request_warn_after = 0\n", "request_warn_after = 0.5\n")) as s:
        (old,) = ready_workers(s, 1)
        load = Load(s.port, conns=8)
        load.wait_ok(50)
        res = {}

        def hang():
            try:
                res["r"] = s.get("/slow", timeout=30)[0]
            except (http.client.HTTPException, OSError) as e:
                res["r"] = repr(e)

        th = threading.Thread(target=hang, daemon=True)
        th.start()
        s.wait_log(r"request 'GET /slow' from 127\.0\.0\.1 running for 0\.\d s, now in \[app:echo\]")
        s.wait_log(r"'GET /slow' from 127\.0\.0\.1 in \[app:echo\] \(plugin echo\) stuck for 1\.\d s", timeout=3)
        new = wait_for(lambda: workers(s) - {old}, 2, "a replacement worker")
        wait_for(lambda: not alive(old), 6, "the hung worker to be gone")
        th.join(10)
        before = load.ok
        load.wait_ok(before + 100)
        load.stop()
        assert len(new) == 1, new
        record("hung stage, workers=1", "(other clients)", load.failed,
               load.ok + load.failed, load.errors)
        assert load.failed == 0, load.errors[:5]
        assert load.max_gap < 1.0, load.max_gap
        assert res.get("r") != 200, res


def test_max_requests_recycles_workers():
    with Server(ini(1, server_extra="max_requests = 200\n")) as s:
        (first,) = ready_workers(s, 1)
        load = Load(s.port, conns=8)
        wait_log_count(s, r"reached max_requests", 3, timeout=20)
        load.stop()
        wait_for(lambda: first not in workers(s), 5, "the first worker to be gone")
        record("max_requests = 200, workers=1", "", load.failed, load.ok + load.failed,
               load.errors)
        # seen once in ~30 runs: every connection reset at one moment; the
        # supervisor's log is what can say which worker closed them
        assert load.failed == 0, (load.errors[:5], s.log()[-4000:])
        assert count_log(s, r"died of|exited with") == 0, s.log()


# ---- signals, pid file, daemon -------------------------------------------------------

def test_sigusr1_reaches_every_worker():
    with Server(ini(2)) as s:
        pids = ready_workers(s, 2)
        os.kill(s.proc.pid, signal.SIGUSR1)
        for p in pids:
            s.wait_log(r"\[app:ev\] event reopen pid=%d" % p)
        assert workers(s) == pids


def test_sigterm_stops_every_worker_and_removes_the_pid_file():
    d = tempfile.mkdtemp(prefix="strata-pid-")
    pidf = os.path.join(d, "strata.pid")
    s = Server(ini(2), args=["--pid-file", pidf])
    pids = ready_workers(s, 2)
    with open(pidf) as f:
        assert int(f.read().strip()) == s.proc.pid
    assert s.stop(signal.SIGTERM) == 0, s.log()
    assert not os.path.exists(pidf)
    assert not any(alive(p) for p in pids)
    assert "event flush" in s.log()


def test_daemon_detaches_and_stops_by_pid_file():
    d = tempfile.mkdtemp(prefix="strata-daemon-")
    pidf = os.path.join(d, "strata.pid")
    ini_path = os.path.join(d, "strata.ini")
    with open(ini_path, "w") as f:
        f.write(ini(1).replace("{TESTPLUGINS}", TESTPLUGINS))
    log_path = os.path.join(d, "error.log")
    with open(log_path, "w") as log:
        launcher = subprocess.Popen([STRATA, "serve", ini_path, "port=0", "--daemon",
                                     "--pid-file", pidf], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=log, cwd=d)
        assert launcher.wait(20) == 0
    # the launcher returns once the server listens and the pid file is written
    with open(pidf) as f:
        pid = int(f.read().strip())
    try:
        with open(log_path) as f:
            text = f.read()
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", text).group(1))
        assert pid != launcher.pid, "did not fork"
        assert os.getsid(pid) != os.getsid(0), "still in the launcher's session"
        with open("/proc/%d/stat" % pid) as f:
            assert int(f.read().split(") ")[1].split()[1]) != launcher.pid
        assert os.readlink("/proc/%d/fd/0" % pid) == "/dev/null"
        assert os.readlink("/proc/%d/fd/1" % pid) == "/dev/null"
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/")
        r = c.getresponse()
        assert r.status == 200 and r.read().startswith(b"app: gen-0")
        c.close()
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not alive(pid), 10, "the daemon to stop")
    assert not os.path.exists(pidf)
    with open(log_path) as f:
        assert "stopped" in f.read()


def test_daemon_that_cannot_start_fails_the_launcher():
    d = tempfile.mkdtemp(prefix="strata-daemon-")
    ini_path = os.path.join(d, "strata.ini")
    with open(ini_path, "w") as f:
        f.write(ini(1, sections="[app:bad]\nuse = create_fails\n").replace("{TESTPLUGINS}",
                                                                             TESTPLUGINS))
    p = subprocess.run([STRATA, "serve", ini_path, "port=0", "--daemon"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=20, cwd=d)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert b"[app:bad] file: cannot open" in p.stderr, p.stderr


def test_zz_summary():
    """Prints the failed-request counts measured above."""
    for test, what, failed, total in COUNTS:
        print("    %-55s %s failed %d of %d" % (test, what, failed, total), flush=True)


if __name__ == "__main__":
    run_tests(globals())
