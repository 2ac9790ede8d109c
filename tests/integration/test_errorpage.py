"""errorpage through a real strata: pages by status and class, status and
unrelated headers kept, HEAD lengths right, bad config refused."""
from harness import Server, run_tests

INI = """
[server:main]
host = 127.0.0.1
port = 0
plugin_path = {TESTPLUGINS}

[filter:errors]
use = errorpage
pages = 404=pages/missing.html
dir = %(here)s/pages

[app:files]
use = static
root = %(here)s/public

[app:down]
use = echo
status = 503

[pipeline:site]
pipeline = errors files

[pipeline:broken]
pipeline = errors down

[composite:main]
use = urlmap
/ = site
/down = broken
"""

MISSING = b"<html><body><h1>Nothing here</h1></body></html>\n"
FIVEXX = b"<html><body><h1>We are on it</h1></body></html>\n"
FILES = {
    "public/index.html": "<h1>home</h1>",
    "pages/missing.html": MISSING,
    "pages/5xx.html": FIVEXX,
}


def test_404__custom_page_status_kept():
    with Server(INI, files=FILES) as s:
        st, h, body = s.get("/nope.html")
        assert st == 404, st
        assert body == MISSING, body
        assert h.get("content-type") == "text/html; charset=utf-8", h
        assert int(h["content-length"]) == len(MISSING), h


def test_head_404__length_of_the_page_no_body():
    with Server(INI, files=FILES) as s:
        st, h, body = s.request("HEAD", "/nope.html")
        assert st == 404 and body == b"", (st, body)
        assert int(h["content-length"]) == len(MISSING), h


def test_503_from_app__class_page_from_dir():
    with Server(INI, files=FILES) as s:
        st, h, body = s.get("/down/anything")
        assert st == 503, st
        assert body == FIVEXX, body


def test_success_and_unpaged_errors__untouched():
    with Server(INI, files=FILES) as s:
        st, _, body = s.get("/index.html")
        assert st == 200 and body == b"<h1>home</h1>", (st, body)
        st, h, body = s.request("POST", "/index.html", body=b"x")
        assert st == 405, st                       # no 405 page, no 4xx page
        assert MISSING not in body
        assert "GET" in h.get("allow", ""), h


def test_missing_page_file__refused_at_load():
    bad = INI.replace("404=pages/missing.html", "404=pages/nope.html")
    s = Server(bad, files=FILES, expect_fail=True)
    try:
        assert s.proc.wait(20) == 1
        assert "[filter:errors] pages: cannot read" in s.log(), s.log()
        assert "No such file or directory" in s.log(), s.log()
    finally:
        s.stop()


run_tests(globals())
