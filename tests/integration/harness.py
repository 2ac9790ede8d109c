"""harness.py — start build/strata on port 0, talk HTTP to it, stop it by pid.

    from harness import Server, run_tests
    def test_hello():
        with Server(INI) as s:
            st, hdrs, body = s.get("/")
            assert st == 200, st
    run_tests(globals())

STRATA_BUILD picks the build (default build/asan, the sanitizer build).
The server is started with port=0 on the command line: leave `port` out of
[server:main] (or write `port = %(port)s`). In INI text, {TESTPLUGINS} and {ROOT} are replaced; the file is written in
a fresh temporary folder, which is also %(here)s and the server's cwd.
"""
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("STRATA_BUILD", os.path.join(ROOT, "build", "asan")))
STRATA = os.path.join(BUILD, "strata")
TESTPLUGINS = os.path.join(BUILD, "testplugins")


class Server:
    def __init__(self, ini, args=(), env=None, files=None, start_timeout=20, expect_fail=False,
                 binary=None):
        self.dir = tempfile.mkdtemp(prefix="strata-it-")
        for name, data in (files or {}).items():
            path = os.path.join(self.dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data if isinstance(data, bytes) else data.encode())
        self.ini = os.path.join(self.dir, "strata.ini")
        with open(self.ini, "w") as f:
            f.write(ini.replace("{TESTPLUGINS}", TESTPLUGINS).replace("{ROOT}", ROOT))
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        e.update(env or {})
        cmd = [binary or STRATA, "serve", self.ini, "port=0"] + list(args)
        self.proc = subprocess.Popen(cmd, cwd=self.dir, env=e, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.out = []
        self._cond = threading.Condition()
        self.port = None
        threading.Thread(target=self._read, args=(self.proc.stderr, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True).start()
        deadline = time.time() + start_timeout
        with self._cond:
            while self.port is None and self.proc.poll() is None and time.time() < deadline:
                self._cond.wait(0.1)
        if self.port is None and not expect_fail:
            self.stop(signal.SIGKILL)
            raise RuntimeError("strata did not start:\n" + self.log())

    def _read(self, stream, into):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with self._cond:
                into.append(line)
                m = re.search(r"listening on https?://([^:/]+):(\d+)", line)
                if m and self.port is None:
                    self.host, self.port = m.group(1), int(m.group(2))
                self._cond.notify_all()

    def log(self):
        with self._cond:
            return "\n".join(self.lines)

    def stdout(self):
        with self._cond:
            return "\n".join(self.out)

    def wait_log(self, pattern, timeout=10):
        deadline = time.time() + timeout
        with self._cond:
            while time.time() < deadline:
                for line in self.lines:
                    if re.search(pattern, line):
                        return line
                self._cond.wait(0.1)
        raise AssertionError("no log line matching %r in:\n%s" % (pattern, self.log()))

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, headers=None, body=None, timeout=10):
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get(self, path, headers=None, **kw):
        return self.request("GET", path, headers, **kw)

    def raw(self, data, timeout=5, read_all=True):
        """Send raw bytes, return what the server answers until it closes or times out."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            chunks = []
            while True:
                try:
                    b = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    # the server answered and closed with our bytes unread
                    break
                if not b:
                    break
                chunks.append(b)
                if not read_all:
                    break
            return b"".join(chunks)
        finally:
            s.close()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        time.sleep(0.05)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None and rc not in (0, None):
            raise AssertionError("strata exited %s:\n%s" % (rc, self.log()))


def strata(*args, timeout=30, cwd=None, env=None):
    """Run the strata command; returns (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([STRATA] + list(args), capture_output=True, timeout=timeout, cwd=cwd, env=e)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def write_ini(text, files=None):
    d = tempfile.mkdtemp(prefix="strata-ini-")
    for name, data in (files or {}).items():
        path = os.path.join(d, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
    path = os.path.join(d, "strata.ini")
    with open(path, "w") as f:
        f.write(text.replace("{TESTPLUGINS}", TESTPLUGINS).replace("{ROOT}", ROOT))
    return path


def run_tests(namespace):
    """Run every test_* function in namespace (or those named in argv)."""
    names = [n for n in sorted(namespace) if n.startswith("test_") and callable(namespace[n])]
    if len(sys.argv) > 1:
        names = [n for n in names if n in sys.argv[1:]]
    passed = failed = 0
    for n in names:
        t0 = time.time()
        try:
            namespace[n]()
            passed += 1
            print("ok   %s (%.1fs)" % (n, time.time() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s (%.1fs)" % (n, time.time() - t0), flush=True)
            traceback.print_exc()
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed else 0)
