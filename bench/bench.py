"""bench.py — the load benchmarks of `make bench` (run by bench/run.sh).

In each of BENCH_RUNS rounds, starts each server in turn on 127.0.0.1
(ephemeral or free ports), runs every workload once with wrk, measures the
server's CPU from /proc, and stops it; so every server meets the shared
machine's changing load alike and the medians are over rounds. Round 1
also checks that every workload's URL answers 200 (a workload that does
not is skipped with the reason) and measures memory at 1,000 connections.
Every number goes to RESULTS/results.json; bench/report.py turns that into
BENCHMARKS.md.

Servers (each skipped with a reason when its pieces are missing):
  bare-mhd         bench/bare_mhd.c: libmicrohttpd alone, 1 KiB from memory
  bare-mhd-fd      the same, open+fstat+fd (sendfile) per request
  strata-static    strata, static only
  strata-ref       strata, logging -> auth (bcrypt user) -> profiling -> static
  strata-log, strata-auth, strata-prof
                   one plugin in front of static, priced against strata-static
  strata-blocking  strata, /slow through bench/plugins/sleep20.c (20 ms) at
                   threads = 8, 32, 128, with fast requests to / meanwhile
  lighttpd         plain static + access log; lighttpd-auth adds mod_auth
  nginx            plain static + access log; nginx-auth adds auth_basic
  paste            TransLogger -> AuthBasicHandler -> StaticURLParser

After the rounds, the one-plugin pipelines are priced against static in
paired sets (price_plugins), since their cost is smaller than the drift
between rounds.

Environment: BENCH_BUILD (build/bench), RESULTS ($BENCH_BUILD/bench-results),
BENCH_RUNS (runs per point, 3), BENCH_DURATION (wrk seconds, 5),
BENCH_PAIRS (pricing sets, 24), BENCH_PAIR_DURATION (their wrk seconds, 2),
BENCH_ONLY (comma-separated server names, for development).
"""
import http.client
import json
import os
import platform
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import base64

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.path.join(ROOT, os.environ.get("BENCH_BUILD", "build/bench")))
RESULTS = os.path.abspath(os.environ.get("RESULTS", os.path.join(BUILD, "bench-results")))
WORK = os.path.join(BUILD, "bench-work")
RUNS = max(2, int(os.environ.get("BENCH_RUNS", "3")))
PAIRS = max(0, int(os.environ.get("BENCH_PAIRS", "24")))
PAIR_DURATION = max(1, int(os.environ.get("BENCH_PAIR_DURATION", "2")))
DURATION = int(os.environ.get("BENCH_DURATION", "5"))
ONLY = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
NPROC = os.cpu_count() or 1
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

DOCROOT = os.path.join(WORK, "docroot")
HTPASSWD = os.path.join(WORK, "htpasswd")
USER_BCRYPT = ("bench", "benchpw")     # htpasswd -B -C 5
USER_APR1 = ("bencha", "benchpw")      # htpasswd -m
FILES = {"1k.html": 1024, "64k.html": 64 * 1024, "10m.bin": 10 * 1024 * 1024}
WRK_LUA = os.path.join(WORK, "report.lua")

results = {"runs": [], "pricing": [], "skipped": [], "memory": [], "blocking": [], "soak": [],
           "configs": {}, "servers": {}, "notes": []}


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def basic(user):
    return "Basic " + base64.b64encode(("%s:%s" % user).encode()).decode()


# ---------------------------------------------------------------- fixtures

def make_fixtures():
    os.makedirs(DOCROOT, exist_ok=True)
    for name, size in FILES.items():
        path = os.path.join(DOCROOT, name)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            block = bytes((97 + i % 26) for i in range(4096))
            with open(path, "wb") as f:
                left = size
                while left:
                    n = min(left, len(block))
                    f.write(block[:n])
                    left -= n
    if os.path.exists(HTPASSWD):
        os.unlink(HTPASSWD)
    subprocess.run(["htpasswd", "-c", "-b", "-B", "-C", "5", HTPASSWD] + list(USER_BCRYPT),
                   check=True, stderr=subprocess.DEVNULL)
    subprocess.run(["htpasswd", "-b", "-m", HTPASSWD] + list(USER_APR1),
                   check=True, stderr=subprocess.DEVNULL)
    with open(WRK_LUA, "w") as f:
        f.write(r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,\"connect\":%d,\"read\":%d," ..
    "\"write\":%d,\"status\":%d,\"timeout\":%d,\"p50_us\":%d,\"p90_us\":%d,\"p99_us\":%d," ..
    "\"mean_us\":%.1f,\"max_us\":%d}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
''')


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- /proc

def descendants(pid):
    """pid and every process below it."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError):
            pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])     # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return total


def rss_kib(pids):
    out = []
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                st = f.read()
            name = re.search(r"^Name:\s*(\S+)", st, re.M).group(1)
            m = re.search(r"^VmRSS:\s*(\d+)", st, re.M)
            out.append({"pid": p, "name": name, "rss_kib": int(m.group(1)) if m else 0})
        except (OSError, AttributeError):
            pass
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- servers

class Server:
    """One server process tree, started in its own session."""

    def __init__(self, name, argv, cwd, listen_re=r"listening on http://[^:]+:(\d+)",
                 port=None, env=None, desc=""):
        self.name, self.argv, self.cwd, self.port = name, argv, cwd, port
        self.listen_re, self.desc = listen_re, desc
        self.errpath = os.path.join(cwd, "%s.stderr" % name)
        e = dict(os.environ)
        e.update(env or {})
        self.err = open(self.errpath, "wb")
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=self.err, env=e,
                                     start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s at start:\n%s"
                                   % (name, self.proc.returncode, self.stderr()))
            if self.port is None:
                m = re.search(self.listen_re, self.stderr())
                if m:
                    self.port = int(m.group(1))
            if self.port is not None and self._accepts():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("%s did not start in 30 s:\n%s" % (name, self.stderr()))

    def _accepts(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stderr(self):
        try:
            with open(self.errpath, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def pids(self):
        return descendants(self.proc.pid)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get(self, path, headers=None, timeout=30):
        """One request: (status, body length), or (None, error text)."""
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            n = len(r.read())
            c.close()
            return r.status, n
        except (OSError, http.client.HTTPException) as e:
            return None, str(e)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log("%s: no exit 15 s after SIGTERM: SIGKILL to its process group" % self.name)
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(timeout=10)
        self.err.close()


# ---------------------------------------------------------------- wrk

class Workload:
    def __init__(self, key, path, conns=64, threads=1, headers=(), label=None):
        self.key, self.path, self.conns, self.threads = key, path, conns, threads
        self.headers = list(headers)
        self.label = label or key

    def argv(self, srv, duration=DURATION):
        a = ["wrk", "-t%d" % self.threads, "-c%d" % self.conns, "-d%ds" % duration,
             "--latency", "-s", WRK_LUA]
        for h in self.headers:
            a += ["-H", h]
        return a + [srv.url(self.path)]


def parse_wrk(out):
    m = re.search(r"^JSON (\{.*\})$", out, re.M)
    if not m:
        return None
    return json.loads(m.group(1))


def run_wrk(srv, wl, duration=DURATION):
    """One wrk run with server CPU before/after. Returns the run dict."""
    argv = wl.argv(srv, duration)
    pids = srv.pids()
    la = loadavg()
    t0 = cpu_ticks(pids)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=duration + 60)
    t1 = cpu_ticks(srv.pids())
    w = parse_wrk(p.stdout)
    if w is None:
        raise RuntimeError("wrk gave no summary:\n" + p.stdout)
    secs = w["duration_us"] / 1e6
    req = w["requests"]
    cpu_s = (t1 - t0) / CLK_TCK
    return {
        "cmd": " ".join(shlex.quote(x) for x in argv).replace(srv.url(""), "http://127.0.0.1:PORT"),
        "requests": req, "seconds": secs,
        "rps": req / secs if secs else 0.0,
        "mibs": w["bytes"] / secs / 1048576 if secs else 0.0,
        "p50_ms": w["p50_us"] / 1000, "p90_ms": w["p90_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000,
        "cpu_s": cpu_s, "cpu_us_per_req": cpu_s * 1e6 / req if req else None,
        "errors": {k: w[k] for k in ("connect", "read", "write", "status", "timeout") if w[k]},
        "loadavg": la,
    }


def check_url(srv, wl):
    hdrs = {}
    for h in wl.headers:
        k, v = h.split(":", 1)
        if k.lower() != "connection":
            hdrs[k.strip()] = v.strip()
    st, n = srv.get(wl.path, hdrs)
    if st != 200:
        return "GET %s answered %s (%s) instead of 200" % (wl.path, st, n)
    return None


def measure_once(srv, spec, rnd):
    """One run of each of spec's workloads that answered 200."""
    for wl in spec.workloads:
        if wl.label in spec.broken:
            continue
        r = run_wrk(srv, wl)
        r.update(server=spec.name, variant=spec.variant, workload=wl.label, run=rnd)
        results["runs"].append(r)
        log("%-16s %-22s run %d: %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  %8.1f MiB/s  "
            "cpu %7.1f us/req%s" % (spec.name, wl.label, rnd, r["rps"], r["p50_ms"],
                                    r["p99_ms"], r["mibs"], r["cpu_us_per_req"] or 0,
                                    "  errors %s" % r["errors"] if r["errors"] else ""))


def skip(server, variant, workload, why):
    log("%s %s %s: skipped: %s" % (server, variant, workload or "", why))
    results["skipped"].append({"server": server, "variant": variant, "workload": workload,
                               "reason": why})


# ---------------------------------------------------------------- memory

def open_connections(srv, n, path, headers):
    """n keep-alive connections, each having had one request answered.
    Returns (sockets, answered)."""
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (
        path, "".join("%s\r\n" % h for h in headers))).encode()
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            socks.append(s)
        except OSError:
            break
    sel = selectors.DefaultSelector()
    got = {}
    for s in socks:
        try:
            s.sendall(req)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            got[s] = b""
        except OSError:
            pass
    answered = 0
    done = set()
    deadline = time.time() + 20
    while len(done) < len(got) and time.time() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                done.add(s)
                continue
            got[s] += data
            buf = got[s]
            he = buf.find(b"\r\n\r\n")
            if he >= 0:
                m = re.search(rb"content-length:\s*(\d+)", buf[:he], re.I)
                if m and len(buf) >= he + 4 + int(m.group(1)):
                    sel.unregister(s)
                    done.add(s)
                    answered += buf.startswith(b"HTTP/1.1 200") or buf.startswith(b"HTTP/1.0 200")
    sel.close()
    return socks, answered


def memory(srv, name, path="/1k.html", headers=()):
    time.sleep(0.5)
    idle = rss_kib(srv.pids())
    socks, answered = open_connections(srv, 1000, path, list(headers))
    time.sleep(0.5)
    loaded = rss_kib(srv.pids())
    open_now = sum(1 for s in socks if s.fileno() >= 0)
    for s in socks:
        s.close()
    row = {"server": name, "idle": idle, "at_1000": loaded, "opened": open_now,
           "answered": answered}
    results["memory"].append(row)
    log("%s: RSS idle %d KiB, at %d connections (%d answered) %d KiB" % (
        name, sum(p["rss_kib"] for p in idle), open_now, answered,
        sum(p["rss_kib"] for p in loaded)))


# ---------------------------------------------------------------- the runs

def want(name):
    return not ONLY or name in ONLY


AUTH_B = "Authorization: " + basic(USER_BCRYPT)
AUTH_A = "Authorization: " + basic(USER_APR1)


def static_workloads(auth=()):
    return [
        Workload("1k", "/1k.html", headers=auth, label="1k-keepalive"),
        Workload("1k-close", "/1k.html", headers=list(auth) + ["Connection: close"],
                 label="1k-close"),
        Workload("64k", "/64k.html", headers=auth, label="64k-keepalive"),
        Workload("10m", "/10m.bin", conns=8, headers=auth, label="10m-c8-t1"),
        Workload("10m-t2", "/10m.bin", conns=8, threads=2, headers=auth, label="10m-c8-t2"),
    ]


def auth_workloads():
    return [
        Workload("1k", "/1k.html", headers=[AUTH_B], label="1k-keepalive-bcrypt"),
        Workload("1k", "/1k.html", headers=[AUTH_A], label="1k-keepalive-apr1"),
        Workload("1k-close", "/1k.html", headers=[AUTH_B, "Connection: close"],
                 label="1k-close-bcrypt"),
        Workload("10m", "/10m.bin", conns=8, headers=[AUTH_B], label="10m-c8-t1-bcrypt"),
    ]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class Spec:
    """A server configuration: how to start it and what to run against it.
    Every round starts it, runs each workload once and stops it, so all
    servers meet the machine's changing load alike (the medians are over
    rounds)."""

    def __init__(self, name, variant, desc, cmd, start, workloads=(), mem_headers=(),
                 soak_headers=None, custom=None):
        self.name, self.variant, self.desc, self.cmd = name, variant, desc, cmd
        self.start, self.workloads = start, list(workloads)
        self.mem_headers, self.soak_headers, self.custom = list(mem_headers), soak_headers, custom
        self.broken = set()
        results["servers"][name] = {"cmd": cmd, "desc": desc}


def strata_ini(name, body, server_extra=""):
    text = ("[server:main]\nhost = 127.0.0.1\nport = 0\nmax_connections = 4096\n"
            "plugin_path = %s\n%s\n%s" % (os.path.join(BUILD, "plugins"), server_extra, body))
    results["configs"][name] = text
    return write(os.path.join(WORK, name + ".ini"), text)


def plugins_missing(names):
    return [n for n in names if not os.path.exists(os.path.join(BUILD, "plugins", n + ".so"))]


def strata_starter(name, ini):
    return lambda: Server(name, [os.path.join(BUILD, "strata"), "serve", ini], WORK)


def bare_specs():
    exe = os.path.join(BUILD, "bench", "bare_mhd")
    if not os.path.exists(exe):
        skip("bare-mhd", "", None, "%s was not built" % exe)
        return []
    out = []
    for name, extra, desc in (
            ("bare-mhd", [], "1 KiB from memory"),
            ("bare-mhd-fd", ["--fd", os.path.join(DOCROOT, "1k.html")],
             "open+fstat+fd (sendfile) per request")):
        if not want(name):
            continue
        wls = [Workload("1k", "/1k.html", label="1k-keepalive")]
        if name == "bare-mhd":
            wls.append(Workload("1k-close", "/1k.html", headers=["Connection: close"],
                                label="1k-close"))
        out.append(Spec(name, desc, desc, " ".join([os.path.relpath(exe, ROOT)] + extra),
                        (lambda n=name, e=extra: Server(n, [exe] + e, WORK)), wls))
    return out


def strata_specs():
    exe = os.path.join(BUILD, "strata")
    if not os.path.exists(exe):
        skip("strata", "", None, "%s was not built" % exe)
        return []
    out = []
    if want("strata-static"):
        miss = plugins_missing(["static"])
        if miss:
            skip("strata-static", "static", None, "plugin not built: %s" % ", ".join(miss))
        else:
            ini = strata_ini("strata-static", "[app:main]\nuse = static\nroot = %s\n" % DOCROOT)
            out.append(Spec("strata-static", "static", "static only",
                            "build/bench/strata serve strata-static.ini",
                            strata_starter("strata-static", ini), static_workloads()))
    if want("strata-ref"):
        miss = plugins_missing(["logging", "auth", "profiling", "static"])
        if miss:
            skip("strata-ref", "logging auth profiling static", None,
                 "plugins not built: %s" % ", ".join(miss))
        else:
            ini = strata_ini("strata-ref", """[filter:log]
use = logging
file = %s

[filter:auth]
use = auth
htpasswd = %s
realm = bench

[filter:prof]
use = profiling

[app:static]
use = static
root = %s

[pipeline:main]
pipeline = log auth prof static
""" % (os.path.join(WORK, "strata-access.log"), HTPASSWD, DOCROOT))
            wls = auth_workloads() + [Workload("64k", "/64k.html", headers=[AUTH_B],
                                               label="64k-keepalive-bcrypt"),
                                      Workload("10m-t2", "/10m.bin", conns=8, threads=2,
                                               headers=[AUTH_B], label="10m-c8-t2-bcrypt")]
            out.append(Spec("strata-ref", "logging auth profiling static",
                            "logging -> auth -> profiling -> static",
                            "build/bench/strata serve strata-ref.ini",
                            strata_starter("strata-ref", ini), wls, mem_headers=[AUTH_B],
                            soak_headers=[AUTH_B]))
    # One plugin in front of static, to price each (issues 4, 5, 6): the
    # same bcrypt Authorization header everywhere so requests are alike.
    one = {
        "strata-log": ("logging", "[filter:one]\nuse = logging\nfile = %s\n"
                       % os.path.join(WORK, "strata-one-access.log")),
        "strata-auth": ("auth", "[filter:one]\nuse = auth\nhtpasswd = %s\nrealm = bench\n"
                        % HTPASSWD),
        "strata-prof": ("profiling", "[filter:one]\nuse = profiling\n"),
    }
    for name, (plugin, section) in one.items():
        if not want(name) and not want("strata-plugins"):
            continue
        miss = plugins_missing([plugin, "static"])
        if miss:
            skip(name, plugin + " static", None, "plugins not built: %s" % ", ".join(miss))
            continue
        ini = strata_ini(name, "%s\n[app:static]\nuse = static\nroot = %s\n\n"
                         "[pipeline:main]\npipeline = one static\n" % (section, DOCROOT))
        out.append(Spec(name, plugin + " static", "%s -> static" % plugin,
                        "build/bench/strata serve %s.ini" % name, strata_starter(name, ini),
                        [Workload("1k", "/1k.html", headers=[AUTH_B], label="1k-keepalive-bcrypt")]))
    if want("strata-static") and any(sp.name == "strata-static" for sp in out):
        # the baseline for the rows above, with the same header
        for sp in out:
            if sp.name == "strata-static":
                sp.workloads.append(Workload("1k", "/1k.html", headers=[AUTH_B],
                                             label="1k-keepalive-bcrypt"))
    if want("strata-blocking"):
        out += blocking_specs()
    return out


def soak(srv, name, headers, target=1000000, limit_s=90, chunk_s=5, min_chunks=4):
    """RSS over about a million more requests: wrk in chunk_s pieces until
    a million are done (and at least min_chunks pieces) or limit_s has
    passed, RSS read after each piece, so growth can be told from warm-up."""
    before = rss_kib(srv.pids())
    wl = Workload("1k", "/1k.html", headers=headers, label="soak")
    total, secs, errors, t0, series, n = 0, 0.0, {}, time.time(), [], 0
    while (total < target or n < min_chunks) and time.time() - t0 < limit_s:
        r = run_wrk(srv, wl, duration=chunk_s)
        n += 1
        total += r["requests"]
        secs += r["seconds"]
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
        series.append({"requests": total,
                       "rss_kib": sum(p["rss_kib"] for p in rss_kib(srv.pids()))})
    after = rss_kib(srv.pids())
    results["soak"].append({"server": name, "requests": total, "seconds": secs,
                            "cmd": r["cmd"], "before": before, "after": after,
                            "series": series, "errors": errors})
    log("%s soak: %d requests in %.0f s, RSS %d -> %s KiB" % (
        name, total, secs, sum(p["rss_kib"] for p in before),
        " -> ".join(str(x["rss_kib"]) for x in series)))


def blocking_round(srv, spec, rnd):
    """One fast-alone run, then the slow load with fast requests meanwhile."""
    threads = spec.threads
    slow, fast = spec.workloads
    r = run_wrk(srv, fast)
    r.update(threads=threads, kind="fast-alone", run=rnd)
    results["blocking"].append(r)
    t0 = cpu_ticks(srv.pids())
    ps = subprocess.Popen(slow.argv(srv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    pf = subprocess.Popen(fast.argv(srv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    outs = ps.communicate(timeout=DURATION + 60)[0]
    outf = pf.communicate(timeout=DURATION + 60)[0]
    cpu_s = (cpu_ticks(srv.pids()) - t0) / CLK_TCK
    for kind, out, wl in (("slow", outs, slow), ("fast-during", outf, fast)):
        w = parse_wrk(out)
        if w is None:
            raise RuntimeError("wrk gave no summary:\n" + out)
        secs = w["duration_us"] / 1e6
        results["blocking"].append({
            "threads": threads, "kind": kind, "run": rnd,
            "cmd": " ".join(shlex.quote(x) for x in wl.argv(srv)).replace(
                srv.url(""), "http://127.0.0.1:PORT"),
            "requests": w["requests"], "seconds": secs, "rps": w["requests"] / secs,
            "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000, "cpu_s_both": cpu_s,
            "errors": {k: w[k] for k in ("connect", "read", "write", "status", "timeout")
                       if w[k]}})
    b = [x for x in results["blocking"] if x["threads"] == threads and x["run"] == rnd]
    log("%s run %d: %s" % (spec.name, rnd, "; ".join(
        "%s %.0f req/s p99 %.2f ms" % (x["kind"], x["rps"], x["p99_ms"]) for x in b)))


def blocking_specs():
    so = os.path.join(BUILD, "bench", "sleep20.so")
    miss = plugins_missing(["static"])
    if not os.path.exists(so) or miss:
        skip("strata-blocking", "sleep20 static", None,
             "missing: %s" % ", ".join(miss + ([so] if not os.path.exists(so) else [])))
        return []
    out = []
    for threads in (8, 32, 128):
        name = "strata-blocking-%d" % threads
        ini = strata_ini(name, """[filter:sleep20]
use = %s
ms = 20

[app:static]
use = static
root = %s

[pipeline:slow]
pipeline = sleep20 static

[composite:main]
use = urlmap
/ = static
/slow = slow
""" % (so, DOCROOT), server_extra="threads = %d\nqueue = 4096\n" % threads)
        spec = Spec(name, "blocking", "threads = %d; /slow: sleep20 -> static" % threads,
                    "build/bench/strata serve %s.ini" % name, strata_starter(name, ini),
                    [Workload("slow", "/slow/1k.html", conns=2 * threads, label="slow"),
                     Workload("fast", "/1k.html", conns=8, label="fast")],
                    custom=blocking_round)
        spec.threads = threads
        out.append(spec)
    return out


def lighttpd_specs():
    exe = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
    if not os.path.exists(exe):
        skip("lighttpd", "", None, "lighttpd is not installed")
        return []
    out = []
    for name, auth in (("lighttpd", False), ("lighttpd-auth", True)):
        if not want(name):
            continue
        d = os.path.join(WORK, name)
        os.makedirs(d, exist_ok=True)

        def start(name=name, auth=auth, d=d):
            port = free_port()
            mods = ['"mod_accesslog"'] + (['"mod_auth"', '"mod_authn_file"'] if auth else [])
            conf = """server.modules = ( %s )
server.document-root = "%s"
server.bind = "127.0.0.1"
server.port = %d
server.errorlog = "%s/error.log"
server.max-fds = 16384
server.max-connections = 8192
accesslog.filename = "%s/access.log"
mimetype.assign = ( ".html" => "text/html", ".bin" => "application/octet-stream" )
""" % (", ".join(mods), DOCROOT, port, d, d)
            if auth:
                conf += """auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "%s"
auth.require = ( "/" => ( "method" => "basic", "realm" => "bench", "require" => "valid-user" ) )
""" % HTPASSWD
            path = write(os.path.join(d, "lighttpd.conf"), conf)
            results["configs"][name] = re.sub(r"server.port = \d+", "server.port = PORT", conf)
            return Server(name, [exe, "-D", "-f", path], d, port=port)
        if auth:
            out.append(Spec(name, "accesslog auth static", "mod_accesslog + mod_auth + static",
                            "lighttpd -D -f %s/lighttpd.conf" % name, start, auth_workloads(),
                            mem_headers=[AUTH_A]))
        else:
            out.append(Spec(name, "accesslog static", "static + mod_accesslog",
                            "lighttpd -D -f %s/lighttpd.conf" % name, start,
                            static_workloads()))
    return out


def nginx_specs():
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(exe):
        skip("nginx", "", None, "nginx is not installed")
        return []
    out = []
    for name, auth in (("nginx", False), ("nginx-auth", True)):
        if not want(name):
            continue
        d = os.path.join(WORK, name)
        os.makedirs(d, exist_ok=True)

        def start(name=name, auth=auth, d=d):
            port = free_port()
            conf = """daemon off;
worker_processes auto;
pid %s/nginx.pid;
error_log %s/error.log;
worker_rlimit_nofile 16384;
events { worker_connections 8192; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log %s/access.log combined;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    server {
        listen 127.0.0.1:%d;
        root %s;
%s    }
}
""" % (d, d, d, d, d, d, d, d, port, DOCROOT,
                '        auth_basic "bench";\n        auth_basic_user_file %s;\n' % HTPASSWD
                if auth else "")
            path = write(os.path.join(d, "nginx.conf"), conf)
            results["configs"][name] = re.sub(r"listen 127.0.0.1:\d+", "listen 127.0.0.1:PORT",
                                              conf)
            return Server(name, [exe, "-e", os.path.join(d, "error.log"), "-p", d, "-c", path],
                          d, port=port)
        cmd = "nginx -e %s/error.log -p %s -c %s/nginx.conf" % (name, name, name)
        if auth:
            out.append(Spec(name, "access_log auth_basic static",
                            "access_log + auth_basic + static", cmd, start, auth_workloads(),
                            mem_headers=[AUTH_A]))
        else:
            out.append(Spec(name, "access_log static", "static + access_log", cmd, start,
                            static_workloads()))
    return out


def paste_specs():
    if not want("paste"):
        return []
    probe = subprocess.run([PY, "-c", "import paste.httpserver, paste.auth.basic, "
                            "paste.translogger, paste.urlparser"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if probe.returncode != 0:
        skip("paste", "", None, "python3-paste is not importable by %s: %s"
             % (PY, probe.stderr.strip().splitlines()[-1:] or ""))
        return []
    d = os.path.join(WORK, "paste")
    os.makedirs(d, exist_ok=True)
    argv = [PY, os.path.join(ROOT, "bench", "paste_server.py"), DOCROOT, HTPASSWD,
            os.path.join(d, "access.log"), "16"]
    spec = Spec("paste", "TransLogger AuthBasicHandler StaticURLParser",
                "TransLogger -> AuthBasicHandler -> StaticURLParser, paste.httpserver "
                "thread pool of 16", "%s bench/paste_server.py DOCROOT HTPASSWD ACCESS_LOG 16"
                % PY, None, auth_workloads(), mem_headers=[AUTH_A])

    def start():
        srv = Server("paste", argv, d)
        m = re.search(r"auth check: (.*)", srv.stderr())
        results["servers"]["paste"]["desc"] = spec.desc + "; auth check: %s" % (
            m.group(1) if m else "?")
        return srv
    spec.start = start
    return spec and [spec]


def run_round(spec, rnd):
    srv = spec.start()
    try:
        if rnd == 1:
            for wl in spec.workloads:
                why = check_url(srv, wl)
                if why:
                    skip(spec.name, spec.variant, wl.label, why)
                    spec.broken.add(wl.label)
            if not spec.custom:
                memory(srv, spec.name, headers=spec.mem_headers)
        if spec.custom:
            if not spec.broken:
                spec.custom(srv, spec, rnd)
        else:
            measure_once(srv, spec, rnd)
        if rnd == RUNS and spec.soak_headers is not None:
            soak(srv, spec.name, spec.soak_headers)
    finally:
        srv.stop()
    # keep the access logs from filling the disk
    for dp, _, fs in os.walk(WORK):
        for fn in fs:
            if fn.endswith("access.log"):
                os.truncate(os.path.join(dp, fn), 0)


PRICED = ("strata-static", "strata-log", "strata-auth", "strata-prof")


def price_plugins(specs):
    """The cost of one plugin in front of static (issues 4, 5, 6) is a few
    per cent of throughput, but on this shared machine the speed of the
    same server drifts by more than that within seconds. So those rows get
    their own phase: the static-only server and every one-plugin server
    run side by side (idle unless loaded), and wrk visits them in turn,
    PAIRS sets of short runs, each set static first; then static once more.
    Every plugin run is judged against the static runs just before and
    just after it (their mean), which cancels the drift between them, and
    the report takes the median over sets."""
    by = {sp.name: sp for sp in specs}
    names = [n for n in PRICED if n in by]
    if "strata-static" not in names or len(names) < 2 or not PAIRS:
        return
    wl = Workload("1k", "/1k.html", headers=[AUTH_B], label="1k-keepalive-bcrypt")
    log("pricing %s: %d sets of %d s runs, servers side by side" % (
        ", ".join(names[1:]), PAIRS, PAIR_DURATION))
    results["pricing_params"] = {"sets": PAIRS, "duration": PAIR_DURATION,
                                 "workload": wl.label, "design": "sandwich"}
    srvs = {}
    try:
        for n in names:
            srv = by[n].start()
            srvs[n] = srv
            why = check_url(srv, wl)
            if why:
                log("pricing: %s: %s" % (n, why))
                srv.stop()
                del srvs[n]
        if "strata-static" not in srvs:
            return
        order = [n for n in names if n in srvs]
        seq = 0
        for i in range(PAIRS + 1):
            for n in order if i < PAIRS else ["strata-static"]:
                r = run_wrk(srvs[n], wl, PAIR_DURATION)
                seq += 1
                r.update(server=n, set=i + 1, seq=seq)
                results["pricing"].append(r)
            if i:
                row = {r["server"]: r for r in results["pricing"] if r["set"] == i}
                nxt = [r for r in results["pricing"] if r["set"] == i + 1
                       and r["server"] == "strata-static"]
                base = (row["strata-static"]["rps"] + nxt[0]["rps"]) / 2
                log("pricing set %d: %s" % (i, "  ".join(
                    "%s %.2f" % (n[7:], row[n]["rps"] / base) for n in order[1:] if n in row)))
    finally:
        for srv in srvs.values():
            srv.stop()


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = "?"
    with open("/proc/meminfo") as f:
        mem = int(re.search(r"MemTotal:\s*(\d+)", f.read()).group(1))

    def ver(argv, pat=r"(.*)"):
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, timeout=20)
            m = re.search(pat, p.stdout)
            return m.group(1).strip() if m else p.stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not installed"

    def deb(pkg):
        return ver(["dpkg-query", "-W", "-f=${Version}", pkg])

    return {
        "nproc": NPROC, "cpu": model, "kernel": platform.release(), "debian": debian,
        "mem_mib": mem // 1024,
        "versions": {
            "strata": ver([os.path.join(BUILD, "strata"), "--version"]),
            "libmicrohttpd": deb("libmicrohttpd12"),
            "nginx": ver(["nginx", "-v"], r"nginx version: (.*)"),
            "lighttpd": ver(["lighttpd", "-v"], r"(lighttpd/\S+)"),
            "wrk": ver(["wrk", "-v"], r"(wrk \S+)"),
            "python3 (Paste)": ver([PY, "--version"]),
            "Paste": deb("python3-paste"),
            "passlib": deb("python3-passlib"),
            "cc": ver(["cc", "--version"]),
        },
    }


def perf_profile():
    """perf record of strata-ref under the 1 KiB keep-alive load (not counted
    in the table): where the CPU goes, for the closing notes."""
    perf = shutil.which("perf")
    if not perf or not want("strata-ref") or plugins_missing(["logging", "auth", "profiling",
                                                              "static"]):
        return
    ini = os.path.join(WORK, "strata-ref.ini")
    if not os.path.exists(ini):
        return
    srv = strata_starter("strata-ref-perf", ini)()
    try:
        wl = Workload("1k", "/1k.html", headers=[AUTH_B], label="1k-keepalive-bcrypt")
        if check_url(srv, wl):
            return
        data = os.path.join(WORK, "perf.data")
        worker = [p for p in srv.pids() if p != srv.proc.pid]
        target = ",".join(str(p) for p in (worker or [srv.proc.pid]))
        for event in ("cycles", "cpu-clock"):
            rec = subprocess.Popen([perf, "record", "-e", event, "-g", "-o", data, "-p", target],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)
            if rec.poll() is None:
                break
        else:
            results["notes"].append("perf record failed: " + rec.stderr.read().strip())
            return
        r = run_wrk(srv, wl)
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=60)
        rep = subprocess.run([perf, "report", "-i", data, "--stdio", "--no-children",
                              "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.7"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=300)
        lines = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]
        rep = subprocess.run([perf, "report", "-i", data, "--stdio", "--no-children",
                              "--sort", "dso", "-g", "none", "--percent-limit", "0.3"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             timeout=300)
        by_dso = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]
        results["perf"] = {"event": event, "cmd": "perf record -e %s -g -p WORKER; %s"
                           % (event, r["cmd"]), "rps": r["rps"], "top": lines[:40],
                           "by_dso": by_dso[:15]}
        log("perf: %d lines of profile (%s)" % (len(lines), event))
    finally:
        srv.stop()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    os.makedirs(RESULTS, exist_ok=True)
    if os.path.isdir(WORK):
        shutil.rmtree(WORK)
    os.makedirs(WORK)
    make_fixtures()
    results["machine"] = machine()
    results["started"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results["loadavg_start"] = loadavg()
    results["params"] = {"runs": RUNS, "duration": DURATION, "only": ONLY,
                         "clk_tck": CLK_TCK}
    t0 = time.time()
    dead = set()
    specs = []
    for make in (bare_specs, strata_specs, lighttpd_specs, nginx_specs, paste_specs):
        try:
            specs += make()
        except Exception as e:          # one broken peer must not lose the others
            log("%s failed: %s" % (make.__name__, e))
            results["notes"].append("%s failed: %s" % (make.__name__, e))
    for rnd in range(1, RUNS + 1):
        log("round %d of %d" % (rnd, RUNS))
        for spec in specs:
            if rnd > 1 and spec.name in dead:
                continue
            try:
                run_round(spec, rnd)
            except Exception as e:
                log("%s round %d failed: %s" % (spec.name, rnd, e))
                results["notes"].append("%s round %d failed: %s" % (spec.name, rnd, e))
                dead.add(spec.name)
            with open(os.path.join(RESULTS, "results.json"), "w") as f:
                json.dump(results, f, indent=1)
    try:
        price_plugins([sp for sp in specs if sp.name not in dead])
    except Exception as e:
        log("pricing failed: %s" % e)
        results["notes"].append("pricing failed: %s" % e)
    try:
        perf_profile()
    except Exception as e:
        results["notes"].append("perf profile failed: %s" % e)
    results["elapsed_s"] = time.time() - t0
    results["loadavg_end"] = loadavg()
    with open(os.path.join(RESULTS, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    log("done in %.0f s; results in %s" % (results["elapsed_s"], RESULTS))


if __name__ == "__main__":
    main()
