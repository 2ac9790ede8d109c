"""The host end to end: pipelines, composites, the pool, limits, bad input."""
import os
import signal
import socket
import threading
import time

from harness import Server, run_tests, strata, write_ini

BASE = """
[server:main]
host = 127.0.0.1
threads = %(threads)s
queue = %(queue)s
plugin_path = {TESTPLUGINS}
max_body_size = 1K
max_header_size = 8K
connection_timeout = %(ctimeout)s
graceful_timeout = 10

[DEFAULT]
threads = 8
queue = 64
ctimeout = 30

[filter:a]
use = tag
tag = a

[filter:b]
use = tag
tag = b
deny = /denied

[app:echo]
use = echo
sleep = 2

[app:other]
use = echo
name = other

[app:boom]
use = crash

[pipeline:tagged]
pipeline = a b echo

[composite:main]
use = urlmap
/ = tagged
/mnt = other
/mnt/deeper = echo
/boom = boom
"""


def fields(body):
    out = {}
    for line in body.decode().splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


def test_pipeline_order_post_processing_and_timing():
    with Server(BASE) as s:
        st, h, body = s.get("/x/y?q=1")
        assert st == 200, (st, body)
        f = fields(body)
        assert f["tags"] == "a,b", f          # a runs before b
        assert h["x-tags"] == "b,a", h        # after next: inner first
        assert f["path"] == "/x/y" and f["query"] == "q=1", f
        assert h["x-below-a"] == "2" and h["x-below-b"] == "1", h   # stages below each, timed
        assert f["pool"] == "1", f            # echo may block: it ran on the pool


def test_short_circuit_skips_the_app():
    with Server(BASE) as s:
        st, h, body = s.get("/denied/x")
        assert st == 403 and body == b"denied\n", (st, body)
        assert h["x-tags"] == "a", h          # only a post-processed


def test_urlmap_longest_prefix_and_script_name():
    with Server(BASE) as s:
        f = fields(s.get("/mnt/file")[2])
        assert f["app"] == "other" and f["script_name"] == "/mnt" and f["path"] == "/file", f
        assert f["route"] == "/mnt", f
        f = fields(s.get("/mnt/deeper/z")[2])
        assert f["app"] == "echo" and f["script_name"] == "/mnt/deeper" and f["path"] == "/z", f
        f = fields(s.get("/mntx")[2])        # not a segment match: falls to /
        assert f["tags"] == "a,b" and f["path"] == "/mntx", f
        f = fields(s.get("/mnt")[2])
        assert f["app"] == "other" and f["path"] == "" and f["script_name"] == "/mnt", f


def test_head_has_no_body_but_length():
    with Server(BASE) as s:
        st, h, body = s.request("HEAD", "/x")
        assert st == 200 and body == b"" and int(h["content-length"]) > 0, (st, h)


def test_body_is_handed_to_the_pipeline_and_limited():
    with Server(BASE) as s:
        st, h, body = s.request("POST", "/x", body=b"hello body")
        assert st == 200 and fields(body)["body"] == "hello body", body
        st, h, body = s.request("POST", "/x", body=b"x" * 5000)
        assert st == 413, st
        assert s.get("/x")[0] == 200


def test_slow_request_does_not_delay_others():
    with Server(BASE) as s:
        slow = {}

        def go():
            t = time.time()
            slow["st"] = s.get("/slow")[0]
            slow["t"] = time.time() - t

        th = threading.Thread(target=go)
        th.start()
        time.sleep(0.2)
        t0 = time.time()
        results = []

        def fast():
            results.append(s.get("/mnt/quick")[0])

        ts = [threading.Thread(target=fast) for _ in range(20)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        fast_time = time.time() - t0
        th.join()
        assert results == [200] * 20, results
        assert fast_time < 1.5, fast_time
        assert slow["st"] == 200 and slow["t"] >= 1.9, slow


def test_queue_full_answers_503_at_once():
    with Server(BASE, args=["threads=1", "queue=1"]) as s:
        out = []

        def go():
            t = time.time()
            st = s.get("/slow", timeout=20)[0]
            out.append((st, time.time() - t))

        ts = [threading.Thread(target=go) for _ in range(4)]
        for t in ts:
            t.start()
            time.sleep(0.1)
        [t.join() for t in ts]
        codes = sorted(c for c, _ in out)
        assert codes.count(503) == 2 and codes.count(200) == 2, out
        assert all(d < 1.0 for c, d in out if c == 503), out


def test_sigterm_lets_the_request_in_flight_finish():
    s = Server(BASE)
    res = {}

    def go():
        res["r"] = s.get("/slow", timeout=20)

    th = threading.Thread(target=go)
    th.start()
    time.sleep(0.5)
    rc = s.stop(signal.SIGTERM)
    th.join()
    assert res["r"][0] == 200, res
    assert rc == 0, (rc, s.log())


def test_plugin_failure_is_500_with_a_log_line():
    with Server(BASE) as s:
        assert s.get("/boom/fail")[0] == 500
        s.wait_log(r"\[app:boom\] \(plugin crash\) failed")
        assert s.get("/boom/nothing")[0] == 500
        s.wait_log(r"\[app:boom\] \(plugin crash\) returned without an answer")
        assert s.get("/boom/ok")[0] == 200


def test_bad_input_gets_a_clear_answer_and_the_server_keeps_serving():
    with Server(BASE) as s:
        r = s.raw(b"GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
        # 431, or a reset when the answer is overtaken by our unread bytes
        assert r == b"" or r.startswith(b"HTTP/1.1 431") or r.startswith(b"HTTP/1.1 400"), r[:80]
        r = s.raw(b"GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        assert r.startswith(b"HTTP/1.1 431"), r[:80]
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
        r = s.raw(b"GET /x HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n")
        assert r.startswith(b"HTTP/1.1 431") or r.startswith(b"HTTP/1.1 400"), r[:80]
        r = s.raw(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        assert r[:12] in (b"HTTP/1.1 414", b"HTTP/1.1 431", b"HTTP/1.1 400"), r[:80]
        r = s.raw(b"GARBAGE\r\n\r\n")
        assert r == b"" or r.startswith(b"HTTP/1.1 400"), r[:80]
        r = s.raw(b"GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", read_all=False)
        assert r.startswith(b"HTTP/1.1 400"), r[:80]
        r = s.raw(b"GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", read_all=False)
        assert r.startswith(b"HTTP/1.1 400"), r[:80]
        f = fields(s.get("/a/./b//c/../d")[2])
        assert f["path"] == "/a/b/d", f
        assert s.get("/x")[0] == 200


def test_header_trickle_is_cut_at_connection_timeout():
    with Server(BASE, args=["ctimeout=2"]) as s:
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"GET /x HTTP/1.1\r\n")
        t0 = time.time()
        closed = None
        try:
            for i in range(20):
                c.sendall(b"X-Slow-%d: 1\r\n" % i)    # one header a second keeps MHD's timer alive
                time.sleep(0.5)
        except OSError:
            closed = time.time() - t0
        c.close()
        assert closed is not None and closed < 5, closed
        assert s.get("/x")[0] == 200


def test_idle_connections_do_not_lock_out_new_clients():
    with Server(BASE) as s:
        idle = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(500)]
        try:
            st = s.get("/mnt/x", timeout=5)[0]
            assert st == 200, st
        finally:
            for c in idle:
                c.close()


def test_bulkhead_concurrency_limits_a_stage():
    ini = BASE.replace("[app:echo]\nuse = echo\n", "[app:echo]\nuse = echo\nconcurrency = 2\n")
    with Server(ini) as s:
        out = []

        def go():
            t = time.time()
            out.append((s.get("/slow", timeout=20)[0], time.time() - t))

        ts = [threading.Thread(target=go) for _ in range(6)]
        [t.start() for t in ts]
        time.sleep(0.3)
        t0 = time.time()
        assert s.get("/mnt/other")[0] == 200 and time.time() - t0 < 1
        [t.join() for t in ts]
        codes = sorted(c for c, _ in out)
        assert codes == [200, 200, 503, 503, 503, 503], out
        assert all(d < 1.0 for c, d in out if c == 503), out


def test_stage_timeout_answers_504():
    ini = BASE.replace("[app:echo]\nuse = echo\n", "[app:echo]\nuse = echo\ntimeout = 0.5\n")
    with Server(ini) as s:
        assert s.get("/slow", timeout=20)[0] == 504
        s.wait_log(r"\[app:echo\] took .* over its timeout")
        assert s.get("/fast")[0] == 200


def test_double_next_is_caught():
    ini = BASE.replace("tag = a\n", "tag = a\ntwice = true\n")
    with Server(ini) as s:
        assert s.get("/x")[0] == 200
        s.wait_log(r"\[filter:a\] called next\(\) twice")


def test_overrides_and_listening_line():
    with Server(BASE, args=["threads=3"]) as s:
        s.wait_log(r"listening on http://127\.0\.0\.1:\d+ \(1 worker, 3 threads each\)")
        assert s.port != 8080




def test_tls_with_cert_and_key():
    import ssl
    import subprocess
    import http.client
    d = __import__("tempfile").mkdtemp()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    d + "/k.pem", "-out", d + "/c.pem", "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    ini = ("[server:main]\ntls_cert = %s/c.pem\ntls_key = %s/k.pem\nplugin_path = {TESTPLUGINS}\n"
           "[app:main]\nuse = echo\n" % (d, d))
    with Server(ini) as s:
        s.wait_log(r"listening on https://127\.0\.0\.1:\d+")
        ctx = ssl.create_default_context(cafile=d + "/c.pem")
        ctx.check_hostname = False
        c = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=10)
        c.request("GET", "/secure")
        r = c.getresponse()
        assert r.status == 200 and b"path: /secure" in r.read()
        c.close()
    ini_bad = "[server:main]\ntls_cert = /nope.pem\ntls_key = /nope.pem\n[app:main]\nuse = hello\n"
    s = Server(ini_bad, expect_fail=True)
    assert s.proc.wait(20) == 1
    assert "[server:main] tls_cert: cannot read '/nope.pem'" in s.log(), s.log()


if __name__ == "__main__":
    run_tests(globals())
