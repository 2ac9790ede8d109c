"""headers in front of static through a real strata: rules, the security
preset, CORS preflights answered by the filter."""
from harness import Server, run_tests

INI = """
[server:main]
host = 127.0.0.1
port = 0

[filter:headers]
use = headers
security = true
set = "Content-Security-Policy: default-src 'self'; img-src * | Cache-Control: no-store | X-Pipe: a \\| b"
add = "Link: </app.css>; rel=preload"
remove = Accept-Ranges
cors_origins = https://app.example.com https://*.example.org
cors_expose = ETag
cors_max_age = 300

[app:files]
use = static
root = %(here)s/public

[pipeline:main]
pipeline = headers files
"""

FILES = {"public/index.html": "<h1>home</h1>", "public/app.css": "body{}"}


def test_rules_and_security_preset__on_every_answer():
    with Server(INI, files=FILES) as s:
        for path, want in (("/index.html", 200), ("/missing", 404)):
            st, h, _ = s.get(path)
            assert st == want, (path, st)
            assert h.get("content-security-policy") == "default-src 'self'; img-src *", h
            assert h.get("cache-control") == "no-store", h
            assert h.get("x-pipe") == "a | b", h
            assert h.get("x-content-type-options") == "nosniff", h
            assert h.get("x-frame-options") == "SAMEORIGIN", h
            assert h.get("referrer-policy") == "strict-origin-when-cross-origin", h
            assert "accept-ranges" not in h, h
        st, h, _ = s.get("/index.html")
        assert h.get("link") == "</app.css>; rel=preload", h


def test_cors_preflight__answered_204_by_the_filter():
    with Server(INI, files=FILES) as s:
        st, h, body = s.request("OPTIONS", "/index.html", {
            "Origin": "https://shop.example.org",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type, x-token"})
        # static alone answers OPTIONS with 405: 204 proves the filter answered
        assert st == 204, (st, body)
        assert body == b""
        assert h.get("access-control-allow-origin") == "https://shop.example.org", h
        assert "PUT" in h.get("access-control-allow-methods", ""), h
        assert h.get("access-control-allow-headers") == "content-type, x-token", h
        assert h.get("access-control-max-age") == "300", h
        assert "Origin" in h.get("vary", ""), h


def test_cors_preflight_from_stranger__reaches_the_app():
    with Server(INI, files=FILES) as s:
        st, h, _ = s.request("OPTIONS", "/index.html", {
            "Origin": "https://evil.test", "Access-Control-Request-Method": "PUT"})
        assert st == 405, st
        assert "access-control-allow-origin" not in h, h
        assert "GET" in h.get("allow", ""), h


def test_cors_simple_request__origin_echoed():
    with Server(INI, files=FILES) as s:
        st, h, body = s.get("/index.html", {"Origin": "https://app.example.com"})
        assert st == 200 and body == b"<h1>home</h1>", st
        assert h.get("access-control-allow-origin") == "https://app.example.com", h
        assert h.get("access-control-expose-headers") == "ETag", h
        assert h.get("vary") == "Origin", h
        st, h, _ = s.get("/index.html", {"Origin": "https://example.org.evil.test"})
        assert "access-control-allow-origin" not in h, h


def test_bad_rule__refused_at_load_naming_the_key():
    bad = INI.replace('add = "Link: </app.css>; rel=preload"', "add = no colon here")
    s = Server(bad, files=FILES, expect_fail=True)
    try:
        assert s.proc.wait(20) == 1
        assert "[filter:headers] add: expected 'Name: value'" in s.log(), s.log()
    finally:
        s.stop()


run_tests(globals())
