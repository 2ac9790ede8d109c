"""proxy through a real strata: a Python upstream (http.server in a thread on
127.0.0.1, port 0) and a second strata serving files as upstream."""
import gzip
import http.server
import json
import socket
import threading
import time

from harness import Server, run_tests

SLOW_S = 3


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass   # the proxy gave up on purpose (max_response_size)

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        p = self.path
        if "/slow" in p:
            time.sleep(SLOW_S)
        if "/big" in p:
            return self.send(200, b"x" * (2 << 20), "text/plain")
        if "/redirect" in p:
            port = self.server.server_address[1]
            return self.send(302, b"", "text/plain",
                             [("Location", "http://127.0.0.1:%d/v1/target?a=1" % port)])
        if "/gzipped" in p:
            return self.send(200, gzip.compress(b"already compressed " * 50), "text/plain",
                             [("Content-Encoding", "gzip")])
        if "/status/" in p:
            code = int(p.rsplit("/", 1)[1])
            return self.send(code, b"upstream says %d" % code, "text/plain",
                             [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                              ("Connection", "X-Private"), ("X-Private", "secret")])
        info = {"method": self.command, "path": p,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_len": len(data), "body_head": data[:64].decode(errors="replace"),
                "thread": threading.get_ident()}
        self.send(200, json.dumps(info).encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = answer


class Up:
    def __enter__(self):
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()


def ini(port, extra=""):
    return """
[server:main]
host = 127.0.0.1
port = 0
threads = 4
plugin_path = {TESTPLUGINS}

[app:backend]
use = proxy
upstream = http://127.0.0.1:%d/v1
upstream_timeout = 1
max_response_size = 1M
%s

[app:home]
use = echo

[composite:main]
use = urlmap
/ = home
/api = backend
""" % (port, extra)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_get__path_query_and_forwarded_headers():
    with Up() as up, Server(ini(up.port)) as s:
        st, h, body = s.get("/api/echo/a%20b?x=1&y=%2F", {
            "Host": "front.test", "X-Forwarded-For": "10.1.2.3", "X-Custom": "kept",
            "Connection": "keep-alive, X-Hop", "X-Hop": "dropped", "TE": "trailers",
            "Proxy-Authorization": "Basic eDp5"})
        assert st == 200, (st, body)
        info = json.loads(body)
        assert info["method"] == "GET", info
        assert info["path"] == "/v1/echo/a%20b?x=1&y=%2F", info
        hd = info["headers"]
        assert hd.get("x-custom") == "kept", hd
        assert hd.get("x-forwarded-for") == "10.1.2.3, 127.0.0.1", hd
        assert hd.get("x-forwarded-host") == "front.test", hd
        assert hd.get("x-forwarded-proto") == "http", hd
        assert hd.get("x-forwarded-prefix") == "/api", hd
        assert hd.get("host") == "127.0.0.1:%d" % up.port, hd
        for gone in ("x-hop", "te", "proxy-authorization", "expect"):
            assert gone not in hd, (gone, hd)


def test_dot_segments__normalised_before_forwarding():
    with Up() as up, Server(ini(up.port)) as s:
        st, _, body = s.get("/api/a/../echo/./b")
        assert st == 200, st
        assert json.loads(body)["path"] == "/v1/echo/b", body


def test_post_body__forwarded_whole():
    payload = b"0123456789abcdef" * 4096   # 64 KiB
    with Up() as up, Server(ini(up.port).replace("[server:main]", "[server:main]\nmax_body_size = 1M")) as s:
        st, _, body = s.request("POST", "/api/upload", {"Content-Type": "application/octet-stream"},
                                body=payload)
        assert st == 200, (st, body)
        info = json.loads(body)
        assert info["method"] == "POST" and info["body_len"] == len(payload), info
        assert info["headers"].get("content-type") == "application/octet-stream", info


def test_status_headers_and_cookies__passed_back():
    with Up() as up, Server(ini(up.port)) as s:
        st, h, body = s.get("/api/status/418")
        assert st == 418 and body == b"upstream says 418", (st, body)
        assert "x-private" not in h, h
        c = s.conn()
        try:
            c.request("GET", "/api/status/201")
            r = c.getresponse()
            r.read()
            assert r.status == 201
            assert r.msg.get_all("Set-Cookie") == ["a=1", "b=2"], r.msg.get_all("Set-Cookie")
        finally:
            c.close()


def test_redirect_into_upstream__mapped_under_the_mount():
    with Up() as up, Server(ini(up.port)) as s:
        st, h, _ = s.get("/api/redirect")
        assert st == 302, st
        assert h.get("location") == "/api/target?a=1", h


def test_encoded_upstream_body__passed_through_untouched():
    with Up() as up, Server(ini(up.port)) as s:
        st, h, body = s.get("/api/gzipped", {"Accept-Encoding": "gzip"})
        assert st == 200 and h.get("content-encoding") == "gzip", h
        assert gzip.decompress(body) == b"already compressed " * 50


def test_head__no_body_and_the_upstream_length():
    with Up() as up, Server(ini(up.port)) as s:
        st, h, body = s.request("HEAD", "/api/gzipped")
        assert st == 200 and body == b"", (st, body)
        _, hg, gbody = s.get("/api/gzipped")
        assert h.get("content-length") == hg.get("content-length") == str(len(gbody)), (h, hg)


def test_upstream_down__502():
    with Server(ini(free_port())) as s:
        st, _, body = s.get("/api/x")
        assert st == 502, (st, body)
        s.wait_log(r"\[app:backend\] GET /x: upstream http://127\.0\.0\.1:\d+: ")


def test_upstream_slow__504_after_upstream_timeout():
    with Up() as up, Server(ini(up.port)) as s:
        t0 = time.time()
        st, _, body = s.get("/api/slow", timeout=SLOW_S + 5)
        took = time.time() - t0
        assert st == 504, (st, body)
        assert took < SLOW_S, took      # upstream_timeout = 1 cut it, not the upstream


def test_response_above_max_response_size__502():
    with Up() as up, Server(ini(up.port)) as s:
        st, _, _ = s.get("/api/big")
        assert st == 502, st
        s.wait_log(r"larger than max_response_size")


def test_parallel_requests__all_answered():
    with Up() as up, Server(ini(up.port)) as s:
        results = []

        def worker():
            for _ in range(10):
                st, _, body = s.get("/api/echo/p")
                results.append((st, json.loads(body)["path"] if st == 200 else body))

        ts = [threading.Thread(target=worker) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert len(results) == 80, len(results)
        assert all(r == (200, "/v1/echo/p") for r in results), [r for r in results if r[0] != 200][:3]


STATIC_INI = """
[server:main]
host = 127.0.0.1
port = 0

[app:main]
use = static
root = %(here)s/public
"""


def test_second_strata_as_upstream():
    page = b"<h1>from the back</h1>" * 100
    with Server(STATIC_INI, files={"public/docs/index.html": page}) as back:
        front_ini = ini(back.port).replace("upstream = http://127.0.0.1:%d/v1" % back.port,
                                           "upstream = http://127.0.0.1:%d/docs" % back.port)
        with Server(front_ini) as front:
            st, h, body = front.get("/api/index.html")
            assert st == 200 and body == page, (st, body[:80])
            assert h.get("content-type", "").startswith("text/html"), h
            etag = h.get("etag")
            if etag:   # conditional requests reach the back and its 304 comes back
                st, _, body = front.get("/api/index.html", {"If-None-Match": etag})
                assert st == 304 and body == b"", st
            st, _, _ = front.get("/api/nope.html")
            assert st == 404, st


def test_bad_upstream__refused_at_load():
    s = Server(ini(1).replace("http://127.0.0.1:1/v1", "ftp://example"), expect_fail=True)
    try:
        assert s.proc.wait(20) == 1
        assert "[app:backend] upstream: expected http://host:port[/prefix]" in s.log(), s.log()
    finally:
        s.stop()


run_tests(globals())
