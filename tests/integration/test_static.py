"""The static plugin through a real strata: every bullet of issue 3, the
fd-leak check, and (when /usr/sbin/nginx is installed) the same request
set sent to nginx with the differences listed.

    STRATA_BUILD=/tmp/b python3 tests/integration/test_static.py
    STATIC_FD_REQUESTS=10000 ... test_fd_count__unchanged_after_many_requests
"""
import email.utils
import gzip
import http.client
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

from harness import Server, run_tests

SMALL = b"small file body\n"
BIG = bytes(range(256)) * 4096 * 3            # 3 MiB: above the cache, sent by fd
CSS = b"body { color: red }\n"
HTML = b"<!doctype html><title>home</title>\n"


def make_tree():
    """A served tree with every kind of trap, beside a file it must not reach."""
    top = tempfile.mkdtemp(prefix="strata-static-it-")
    www = os.path.join(top, "www")

    def put(rel, data, mtime=None):
        p = os.path.join(top, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        if mtime is not None:
            os.utime(p, (mtime, mtime))

    put("outside.txt", b"OUTSIDE THE ROOT\n")
    put("www/index.html", HTML)
    put("www/small.txt", SMALL)
    put("www/big.bin", BIG)
    put("www/style.css", CSS)
    put("www/app.js", b"console.log(1)\n")
    put("www/data.json", b"{}\n")
    put("www/pic.png", b"\x89PNG\r\n\x1a\n")
    put("www/noext", b"raw\n")
    put("www/empty.txt", b"")
    put("www/sub/index.html", b"sub index\n")
    put("www/sub/deep.txt", b"deep\n")
    put("www/noindex/file.txt", b"f\n")
    put("www/list/<b>&'x\".txt", b"x\n")
    put("www/list/plain.txt", b"p\n")
    put("www/list/.hidden", b"SECRET\n")
    put("www/.git/config", b"SECRET\n")
    put("www/.env", b"SECRET\n")
    put("www/.well-known/security.txt", b"Contact: x\n")
    put("www/sp ace.txt", b"space\n")
    now = time.time()
    page = b"<p>" + b"compress me " * 200 + b"</p>\n"
    put("www/page.html", page, now - 100)
    put("www/page.html.gz", gzip.compress(page), now - 50)
    put("www/page.html.br", b"BROTLI-BYTES", now - 50)
    put("www/stale.css", CSS, now - 50)
    put("www/stale.css.gz", gzip.compress(b"old"), now - 100)
    os.symlink("small.txt", os.path.join(www, "link-in"))
    os.symlink("../outside.txt", os.path.join(www, "link-out"))
    os.symlink("/etc/passwd", os.path.join(www, "link-abs"))
    os.symlink("..", os.path.join(www, "up"))
    os.mkfifo(os.path.join(www, "fifo"))
    try:
        os.mknod(os.path.join(www, "zero"), 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    except OSError:
        pass   # no device nodes here (not root, or a restricted container)
    return top, www


INI = """
[server:main]
host = 127.0.0.1
port = 0
threads = 4

[app:main]
use = static
root = %(root)s
max_age = 60
listing = %(listing)s
"""

COMPOSITE = """
[server:main]
host = 127.0.0.1
port = 0
threads = 2

[app:assets]
use = static
root = %(root)s

[app:other]
use = static
root = %(root)s/sub

[composite:main]
use = urlmap
/assets = assets
/ = other
"""


class Tree:
    def __init__(self, listing=False, ini=INI):
        self.top, self.www = make_tree()
        self.ini = ini.replace("%(root)s", self.www).replace("%(listing)s",
                                                             "true" if listing else "false")

    def __enter__(self):
        self.server = Server(self.ini)
        return self.server

    def __exit__(self, *exc):
        try:
            self.server.__exit__(*exc)
        finally:
            shutil.rmtree(self.top, ignore_errors=True)


def raw_get(s, target, extra=b""):
    """A request-target sent as is (http.client would not send some)."""
    data = s.raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + b"\r\n")
    head = data.split(b"\r\n", 1)[0]
    return int(head.split()[1]), data


# ---- methods and headers ----------------------------------------------------

def test_get_and_head__same_headers():
    with Tree() as s:
        st, h, body = s.get("/small.txt")
        assert st == 200 and body == SMALL, (st, body)
        assert h["content-type"] == "text/plain; charset=utf-8", h
        assert h["content-length"] == str(len(SMALL)), h
        assert h["etag"].startswith('"') and h["etag"].endswith('"'), h   # strong
        assert email.utils.parsedate_to_datetime(h["last-modified"]), h
        assert h["cache-control"] == "max-age=60", h
        assert h["accept-ranges"] == "bytes", h
        st2, h2, body2 = s.request("HEAD", "/small.txt")
        assert st2 == 200 and body2 == b"", (st2, body2)
        for k in ("content-type", "content-length", "etag", "last-modified", "cache-control"):
            assert h2.get(k) == h.get(k), (k, h, h2)


def test_other_methods__405_with_allow():
    with Tree() as s:
        for m in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
            st, h, _ = s.request(m, "/small.txt", body=b"x" if m in ("POST", "PUT", "PATCH") else None)
            assert st == 405, (m, st)
            assert h.get("allow") == "GET, HEAD", (m, h)


def test_content_type__mime_types_and_charset():
    with Tree() as s:
        want = {"/style.css": "text/css; charset=utf-8",
                "/index.html": "text/html; charset=utf-8",
                "/data.json": "application/json",
                "/pic.png": "image/png",
                "/noext": "application/octet-stream"}
        for path, ctype in want.items():
            st, h, _ = s.get(path)
            assert st == 200 and h["content-type"] == ctype, (path, st, h.get("content-type"))
        st, h, _ = s.get("/app.js")
        assert h["content-type"].endswith("javascript; charset=utf-8"), h


def test_empty_file__200_with_zero_length():
    with Tree() as s:
        st, h, body = s.get("/empty.txt")
        assert st == 200 and body == b"" and h["content-length"] == "0", (st, h)


# ---- conditionals -------------------------------------------------------------

def test_if_none_match__304_without_body():
    with Tree() as s:
        _, h, _ = s.get("/small.txt")
        etag = h["etag"]
        for inm in (etag, "W/" + etag, '"nope", ' + etag, "*"):
            st, h2, body = s.get("/small.txt", {"If-None-Match": inm})
            assert st == 304 and body == b"", (inm, st, body)
            assert h2.get("etag") == etag, h2
        st, _, body = s.get("/small.txt", {"If-None-Match": '"nope"'})
        assert st == 200 and body == SMALL, st


def test_if_modified_since__304_and_none_match_wins():
    with Tree() as s:
        _, h, _ = s.get("/big.bin")
        lm = h["last-modified"]
        st, _, body = s.get("/big.bin", {"If-Modified-Since": lm})
        assert st == 304 and body == b"", st
        st, _, _ = s.get("/big.bin", {"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"})
        assert st == 200, st
        st, _, body = s.get("/big.bin", {"If-Modified-Since": lm, "If-None-Match": '"other"'})
        assert st == 200 and len(body) == len(BIG), st   # If-None-Match wins


def test_if_range__whole_file_when_changed():
    with Tree() as s:
        _, h, _ = s.get("/small.txt")
        st, h2, body = s.get("/small.txt", {"Range": "bytes=0-4", "If-Range": h["etag"]})
        assert st == 206 and body == SMALL[:5], (st, body)
        st, h2, body = s.get("/small.txt", {"Range": "bytes=0-4", "If-Range": h["last-modified"]})
        assert st == 206, st
        st, _, body = s.get("/small.txt", {"Range": "bytes=0-4", "If-Range": '"old"'})
        assert st == 200 and body == SMALL, st


# ---- ranges -------------------------------------------------------------------------

def test_ranges__single_suffix_open_416_multi():
    with Tree() as s:
        n = len(BIG)
        cases = [("bytes=0-99", 206, 0, 100), ("bytes=-500", 206, n - 500, n),
                 ("bytes=100-", 206, 100, n), ("bytes=%d-" % (n - 1), 206, n - 1, n),
                 ("bytes=0-%d" % (n * 2), 206, 0, n)]
        for rng, want, a, b in cases:
            st, h, body = s.get("/big.bin", {"Range": rng})
            assert st == want, (rng, st)
            assert body == BIG[a:b], rng
            assert h["content-range"] == "bytes %d-%d/%d" % (a, b - 1, n), (rng, h)
            assert h["content-length"] == str(b - a), h
        for path, size in (("/big.bin", n), ("/small.txt", len(SMALL))):
            st, h, _ = s.get(path, {"Range": "bytes=%d-" % size})
            assert st == 416 and h.get("content-range") == "bytes */%d" % size, (path, st, h)
        st, h, body = s.get("/small.txt", {"Range": "bytes=0-1,4-5"})
        assert st == 200 and body == SMALL and "content-range" not in h, (st, h)
        st, _, body = s.get("/small.txt", {"Range": "bytes=5-1"})
        assert st == 200 and body == SMALL, st   # invalid: ignored
        st, h, body = s.get("/small.txt", {"Range": "bytes=2-5"})   # cached path
        assert st == 206 and body == SMALL[2:6], (st, body)


# ---- precompressed siblings ---------------------------------------------------------

def test_precompressed__gz_and_br_with_vary():
    with Tree() as s:
        st, h, body = s.get("/page.html", {"Accept-Encoding": "gzip"})
        assert st == 200 and h.get("content-encoding") == "gzip", h
        assert h.get("vary") == "Accept-Encoding", h
        assert h["content-type"] == "text/html; charset=utf-8", h
        assert gzip.decompress(body).startswith(b"<p>compress me"), body[:20]
        st, h, body = s.get("/page.html", {"Accept-Encoding": "gzip, br"})
        assert h.get("content-encoding") == "br" and body == b"BROTLI-BYTES", h
        st, h, body = s.get("/page.html", {"Accept-Encoding": "gzip;q=0"})
        assert "content-encoding" not in h and body.startswith(b"<p>"), h
        assert h.get("vary") == "Accept-Encoding", h
        st, h, body = s.get("/page.html")
        assert "content-encoding" not in h and h.get("vary") == "Accept-Encoding", h
        # a sibling older than the file is not served
        st, h, body = s.get("/stale.css", {"Accept-Encoding": "gzip"})
        assert body == CSS and "content-encoding" not in h, h


# ---- directories -----------------------------------------------------------------------

def test_directories__redirect_index_403():
    with Tree() as s:
        st, h, _ = s.get("/sub")
        assert st == 301 and h["location"] == "/sub/", (st, h)
        st, h, _ = s.get("/sub?a=1")
        assert st == 301 and h["location"] == "/sub/?a=1", (st, h)
        st, _, body = s.get("/sub/")
        assert st == 200 and body == b"sub index\n", st
        st, _, body = s.get("/")
        assert st == 200 and body == HTML, st
        st, _, _ = s.get("/noindex/")
        assert st == 403, st
        st, _, _ = s.get("/small.txt/")
        assert st == 404, st


def test_listing__escaped_names_no_dotfiles():
    with Tree(listing=True) as s:
        st, h, body = s.get("/list/")
        assert st == 200 and h["content-type"] == "text/html; charset=utf-8", (st, h)
        text = body.decode()
        assert "&lt;b&gt;&amp;&#39;x&quot;.txt" in text, text
        assert "<b>" not in text, text
        assert 'href="./%3Cb%3E%26%27x%22.txt"' in text, text
        assert "plain.txt" in text and ".hidden" not in text, text
        st, _, body = s.get("/list/%3Cb%3E%26%27x%22.txt")
        assert st == 200 and body == b"x\n", st
        st, _, body = s.get("/noindex/")
        assert st == 200 and b"file.txt" in body, st


def test_composite_mount__serves_below_prefix():
    with Tree(ini=COMPOSITE) as s:
        st, _, body = s.get("/assets/style.css")
        assert st == 200 and body == CSS, st
        st, h, _ = s.get("/assets")
        assert st == 301 and h["location"] == "/assets/", (st, h)
        st, h, _ = s.get("/assets/sub")
        assert st == 301 and h["location"] == "/assets/sub/", (st, h)
        st, _, body = s.get("/assets/sub/")
        assert st == 200 and body == b"sub index\n", st
        st, _, body = s.get("/deep.txt")          # the other mount, rooted at sub/
        assert st == 200 and body == b"deep\n", st
        st, _, body = s.get("/assets/../small.txt")
        assert st in (400, 403, 404), st


# ---- security ----------------------------------------------------------------------------

def test_security__traversal_encoded_and_symlinks():
    with Tree() as s:
        for target in (b"/../outside.txt", b"/sub/../../outside.txt", b"/%2e%2e/outside.txt",
                       b"/%2E%2E/%2e%2e/outside.txt", b"/sub%2f..%2f..%2foutside.txt",
                       b"/small.txt%00.html", b"/%2e%2e%2foutside.txt", b"/up/outside.txt",
                       b"/link-out", b"/link-abs", b"/.git/config", b"/.env", b"/list/.hidden",
                       b"/%2egit/config", b"/up/www/small.txt"):
            st, data = raw_get(s, target)
            assert st in (400, 403, 404), (target, st)
            assert b"OUTSIDE" not in data and b"SECRET" not in data and b"root:" not in data, target
        for target, want in ((b"/small.txt%00", 400), (b"/a%2fb", 400), (b"/link-out", 403),
                             (b"/.git/config", 403), (b"/%252e%252e/outside.txt", 404)):
            st, _ = raw_get(s, target)
            assert st == want, (target, st, want)
        st, data = raw_get(s, b"/link-in")
        assert st == 200 and data.endswith(SMALL), st
        st, data = raw_get(s, b"/.well-known/security.txt")
        assert st == 200, st
        st, data = raw_get(s, b"/sp%20ace.txt")
        assert st == 200 and data.endswith(b"space\n"), st


def test_fifo_and_device__never_block():
    with Tree() as s:
        t0 = time.time()
        st, _, _ = s.get("/fifo", timeout=5)
        assert st == 404, st
        # more FIFO requests at once than the server has threads
        results = []

        def one():
            try:
                results.append(s.get("/fifo", timeout=5)[0])
            except Exception as e:   # noqa: BLE001 - a hang shows as a timeout here
                results.append(repr(e))
        ts = [threading.Thread(target=one) for _ in range(24)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(10)
        assert results == [404] * 24, results
        st, _, body = s.get("/small.txt", timeout=5)
        assert st == 200 and body == SMALL, st
        assert time.time() - t0 < 20, time.time() - t0


def test_device_node__404():
    top, www = make_tree()
    try:
        if not os.path.exists(os.path.join(www, "zero")):
            print("     (skipped: no device nodes can be made here)")
            return
        with Server(INI.replace("%(root)s", www).replace("%(listing)s", "false")) as s:
            st, _, body = s.get("/zero", timeout=5)
            assert st == 404 and b"\0\0\0\0" not in body, st
    finally:
        shutil.rmtree(top, ignore_errors=True)


# ---- bodies and descriptors -----------------------------------------------------------------

def test_big_file__sent_whole_and_concurrently():
    with Tree() as s:
        st, h, body = s.get("/big.bin")
        assert st == 200 and body == BIG and h["content-length"] == str(len(BIG)), st
        errors = []

        def worker(path, want):
            try:
                c = s.conn(10)
                for _ in range(20):
                    c.request("GET", path)
                    r = c.getresponse()
                    got = r.read()
                    if r.status != 200 or got != want:
                        errors.append((path, r.status, len(got)))
                c.close()
            except Exception as e:   # noqa: BLE001
                errors.append(repr(e))
        ts = [threading.Thread(target=worker, args=(p, w))
              for p, w in (("/small.txt", SMALL), ("/style.css", CSS), ("/big.bin", BIG)) * 2]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert not errors, errors[:5]


def worker_pid(s):
    """The worker process: the supervisor's child (or the server itself)."""
    pid = s.proc.pid
    for _ in range(50):
        try:
            kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
        except OSError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.1)
    return pid


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def settle(pid, want, timeout=10):
    """fd count once connections have closed: polled until it reaches
    `want` or stops moving; the caller asserts on the value."""
    deadline = time.time() + timeout
    n = fd_count(pid)
    while n != want and time.time() < deadline:
        time.sleep(0.1)
        n = fd_count(pid)
    return n


MIX = [("GET", "/small.txt", {}), ("GET", "/big.bin", {}), ("GET", "/nope", {}),
       ("GET", "/link-out", {}), ("GET", "/sub", {}), ("GET", "/sub/", {}),
       ("GET", "/big.bin", {"Range": "bytes=10-20"}), ("GET", "/big.bin", {"Range": "bytes=99999999-"}),
       ("GET", "/big.bin", {"If-None-Match": "*"}), ("HEAD", "/big.bin", {}),
       ("GET", "/page.html", {"Accept-Encoding": "gzip"}), ("GET", "/fifo", {}),
       ("GET", "/noindex/", {}), ("POST", "/small.txt", {}), ("GET", "/stale.css", {"Accept-Encoding": "gzip"})]


def hammer(s, n):
    c = s.conn(10)
    for i in range(n):
        m, path, h = MIX[i % len(MIX)]
        if i % 97 == 0:
            # a client that goes away in the middle of a big body
            k = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            k.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            k.recv(1000)
            k.close()
            continue
        if i % 50 == 0:
            c.close()
            c = s.conn(10)
        c.request(m, path, headers=h, body=b"x" if m == "POST" else None)
        r = c.getresponse()
        r.read()
        if r.getheader("Connection", "").lower() == "close":
            c.close()
            c = s.conn(10)
    c.close()


def test_fd_count__unchanged_after_many_requests():
    n = int(os.environ.get("STATIC_FD_REQUESTS", "2000"))
    with Tree() as s:
        pid = worker_pid(s)
        hammer(s, 300)                      # warm up: thread caches, lazily opened files
        time.sleep(0.3)
        before = settle(pid, -1, timeout=1)
        t0 = time.time()
        hammer(s, n)
        after = settle(pid, before)
        print("     fd count of worker %d: %d before, %d after %d requests (%.1fs)"
              % (pid, before, after, n, time.time() - t0))
        assert after == before, (before, after)


def test_changed_file__served_new_within_seconds():
    with Tree() as s:
        st, _, body = s.get("/small.txt")
        assert body == SMALL
        root = [l.split("=", 1)[1].strip() for l in open(s.ini) if l.startswith("root")][0]
        time.sleep(1.2)                      # old enough to be cached
        for _ in range(3):
            assert s.get("/small.txt")[2] == SMALL
        with open(os.path.join(root, "small.txt"), "wb") as f:
            f.write(b"changed!\n")
        deadline = time.time() + 5
        body = SMALL
        while time.time() < deadline:
            body = s.get("/small.txt")[2]
            if body == b"changed!\n":
                break
            time.sleep(0.1)
        assert body == b"changed!\n", body
        os.unlink(os.path.join(root, "small.txt"))
        deadline = time.time() + 5
        st = 200
        while time.time() < deadline:
            st = s.get("/small.txt")[0]
            if st == 404:
                break
            time.sleep(0.1)
        assert st == 404, st


# ---- nginx ------------------------------------------------------------------------------------

NGINX = "/usr/sbin/nginx"

# The request set sent to both. (id, method, target, headers)
COMPARE = [
    ("small", "GET", "/small.txt", {}),
    ("head", "HEAD", "/small.txt", {}),
    ("big", "GET", "/big.bin", {}),
    ("index", "GET", "/", {}),
    ("subdir-redirect", "GET", "/sub", {}),
    ("subdir-redirect-query", "GET", "/sub?x=1", {}),
    ("subdir-index", "GET", "/sub/", {}),
    ("noindex", "GET", "/noindex/", {}),
    ("missing", "GET", "/nope.txt", {}),
    ("file-slash", "GET", "/small.txt/", {}),
    ("space", "GET", "/sp%20ace.txt", {}),
    ("css-type", "GET", "/style.css", {}),
    ("json-type", "GET", "/data.json", {}),
    ("js-type", "GET", "/app.js", {}),
    ("noext-type", "GET", "/noext", {}),
    ("empty", "GET", "/empty.txt", {}),
    ("post", "POST", "/small.txt", {}),
    ("delete", "DELETE", "/small.txt", {}),
    ("range", "GET", "/big.bin", {"Range": "bytes=0-99"}),
    ("range-suffix", "GET", "/big.bin", {"Range": "bytes=-500"}),
    ("range-open", "GET", "/big.bin", {"Range": "bytes=100-"}),
    ("range-past-end", "GET", "/big.bin", {"Range": "bytes=0-99999999"}),
    ("range-416", "GET", "/small.txt", {"Range": "bytes=1000-"}),
    ("range-multi", "GET", "/small.txt", {"Range": "bytes=0-1,4-5"}),
    ("range-invalid", "GET", "/small.txt", {"Range": "bytes=5-1"}),
    ("range-other-unit", "GET", "/small.txt", {"Range": "items=0-1"}),
    ("range-head", "HEAD", "/small.txt", {"Range": "bytes=0-1"}),
    ("inm-star", "GET", "/small.txt", {"If-None-Match": "*"}),
    ("inm-other", "GET", "/small.txt", {"If-None-Match": '"x"'}),
    ("ims-equal", "GET", "/small.txt", {"If-Modified-Since": "@lm"}),
    ("ims-old", "GET", "/small.txt", {"If-Modified-Since": "Sun, 06 Nov 1994 08:49:37 GMT"}),
    ("ims-later", "GET", "/small.txt", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}),
    ("inm-wins", "GET", "/small.txt", {"If-None-Match": '"x"', "If-Modified-Since": "@lm"}),
    ("if-range-date", "GET", "/small.txt", {"Range": "bytes=0-1", "If-Range": "@lm"}),
    ("if-range-old", "GET", "/small.txt", {"Range": "bytes=0-1", "If-Range": '"x"'}),
    ("gzip", "GET", "/page.html", {"Accept-Encoding": "gzip"}),
    ("br", "GET", "/page.html", {"Accept-Encoding": "br"}),
    ("gzip-q0", "GET", "/page.html", {"Accept-Encoding": "gzip;q=0"}),
    ("stale-gz", "GET", "/stale.css", {"Accept-Encoding": "gzip"}),
    ("dotdot", "GET", "/../outside.txt", {}),
    ("dotdot-encoded", "GET", "/%2e%2e/outside.txt", {}),
    ("slash-encoded", "GET", "/sub%2fdeep.txt", {}),
    ("nul", "GET", "/small.txt%00.html", {}),
    ("dotfile", "GET", "/.env", {}),
    ("dotdir", "GET", "/.git/config", {}),
    ("well-known", "GET", "/.well-known/security.txt", {}),
    ("symlink-in", "GET", "/link-in", {}),
    ("symlink-out", "GET", "/link-out", {}),
    ("symlink-abs", "GET", "/link-abs", {}),
    ("symlink-dir-out", "GET", "/up/outside.txt", {}),
    ("fifo", "GET", "/fifo", {}),
    ("double-decode", "GET", "/%252e%252e/outside.txt", {}),
]

# Where strata answers otherwise, and why. Anything else that differs fails.
EXPECTED = {
    "js-type": "nginx's own mime.types says application/javascript; /etc/mime.types (RFC 9239) text/javascript",
    "range-multi": "nginx sends multipart/byteranges; strata answers 200 with the whole file (documented)",
    "range-invalid": "nginx 416; RFC 9110 §14.2 says an invalid range-spec is ignored: strata 200",
    "range-head": "nginx applies Range to HEAD; RFC 9110 defines Range for GET only: strata 200",
    "ims-later": "nginx's default if_modified_since exact wants equal dates; RFC 9110 §13.1.3 'not modified "
                 "since': strata 304",
    "br": "nginx-light has no brotli_static; strata serves the .br sibling",
    "stale-gz": "nginx gzip_static serves a .gz older than the file; strata ignores it (stale content)",
    "slash-encoded": "security: nginx decodes %2F and serves; strata (host) rejects it with 400",
    "dotfile": "security: nginx serves dotfiles by default; strata 403",
    "dotdir": "security: nginx serves dotfiles by default; strata 403",
    "symlink-out": "security: nginx follows symlinks out of root by default; strata 403",
    "symlink-abs": "security: nginx follows symlinks out of root by default; strata 403",
    "symlink-dir-out": "security: nginx follows symlinks out of root by default; strata 403",
}


def free_port():
    k = socket.socket()
    k.bind(("127.0.0.1", 0))
    port = k.getsockname()[1]
    k.close()
    return port


def start_nginx(www, work):
    port = free_port()
    for d in ("tmp", "logs"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
daemon off;
master_process off;
worker_processes 1;
pid %(w)s/nginx.pid;
error_log %(w)s/logs/error.log;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    charset utf-8;
    charset_types text/plain text/css text/html text/javascript application/javascript text/markdown;
    client_body_temp_path %(w)s/tmp/body;
    proxy_temp_path %(w)s/tmp/proxy;
    fastcgi_temp_path %(w)s/tmp/fastcgi;
    uwsgi_temp_path %(w)s/tmp/uwsgi;
    scgi_temp_path %(w)s/tmp/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
        index index.html;
        gzip_static on;
        gzip_vary on;
        location / { add_header Cache-Control "max-age=60"; }
    }
}
""" % {"w": work, "port": port, "root": www})
    p = subprocess.Popen([NGINX, "-c", conf, "-p", work, "-e", os.path.join(work, "logs/error.log")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return p, port
        except OSError:
            if p.poll() is not None:
                raise RuntimeError("nginx did not start: " + p.stderr.read().decode(errors="replace"))
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("nginx did not listen on %d" % port)


def send(port, method, target, headers):
    k = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        req = "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (method, target)
        for n, v in headers.items():
            req += "%s: %s\r\n" % (n, v)
        body = b"x" if method == "POST" else b""
        if body:
            req += "Content-Length: 1\r\n"
        k.sendall(req.encode() + b"\r\n" + body)
        data = b""
        while True:
            b = k.recv(65536)
            if not b:
                break
            data += b
    finally:
        k.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    h = {}
    for line in lines[1:]:
        n, _, v = line.partition(":")
        h[n.strip().lower()] = v.strip()
    if h.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            size = int(size.split(b";")[0], 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        body = out
    return status, h, body


def summary(status, h, body, method):
    """What must agree: status, body (for 2xx GET), the range and encoding
    fields, the media type, the path of Location, ETag/Last-Modified presence."""
    s = {"status": status}
    if 200 <= status < 300 and method == "GET":
        s["body"] = (len(body), hash(body))
    s["content-range"] = h.get("content-range")
    s["content-encoding"] = h.get("content-encoding")
    if status in (200, 206):
        s["type"] = (h.get("content-type") or "").split(";")[0].strip()
        s["validators"] = ("etag" in h, "last-modified" in h)
    if "location" in h:
        loc = h["location"]
        if "://" in loc:
            loc = "/" + loc.split("://", 1)[1].split("/", 1)[1]
        s["location"] = loc
    return s


def test_nginx_comparison__differences_listed():
    if not os.path.exists(NGINX):
        print("     (skipped: %s is not installed; the package is nginx-light)" % NGINX)
        return
    top, www = make_tree()
    work = tempfile.mkdtemp(prefix="strata-nginx-")
    ngx = None
    try:
        ngx, nport = start_nginx(www, work)
        ini = INI.replace("%(root)s", www).replace("%(listing)s", "false")
        with Server(ini) as s:
            lm = s.get("/small.txt")[1]["last-modified"]
            rows, unexpected = [], []
            for rid, method, target, headers in COMPARE:
                headers = {k: (lm if v == "@lm" else v) for k, v in headers.items()}
                a = summary(*send(nport, method, target, headers), method)
                b = summary(*send(s.port, method, target, headers), method)
                if rid == "post":   # nginx sends no Allow with its 405: status only
                    a, b = {"status": a["status"]}, {"status": b["status"]}
                same = a == b
                rows.append((rid, a["status"], b["status"], same))
                if not same and rid not in EXPECTED:
                    unexpected.append((rid, a, b))
                if same and rid in EXPECTED:
                    print("     note: %s now agrees with nginx" % rid)
        print("     %-22s %-6s %-6s %s" % ("request", "nginx", "strata", "difference"))
        for rid, na, sa, same in rows:
            print("     %-22s %-6s %-6s %s" % (rid, na, sa, "" if same else EXPECTED.get(rid, "UNEXPECTED")))
        assert not unexpected, "\n".join("%s:\n  nginx  %s\n  strata %s" % u for u in unexpected)
    finally:
        if ngx:
            ngx.terminate()
            try:
                ngx.wait(10)
            except subprocess.TimeoutExpired:
                ngx.kill()
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
