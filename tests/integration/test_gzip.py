"""gzip in front of static (fd and cached bodies) and of errorpage (memory
bodies), through a real strata."""
import gzip
import http.client

from harness import Server, run_tests

INI = """
[server:main]
host = 127.0.0.1
port = 0
threads = 4

[filter:gzip]
use = gzip
min_length = 256
inline_limit = 64K

[app:files]
use = static
root = %(here)s/public

[pipeline:main]
pipeline = gzip files
"""

BIG = ("<p>strata says hello to the whole wide world</p>\n" * 6000).encode()   # ~290 KiB
MID = ("var strata = {hello: 'world'};\n" * 200).encode()                       # ~6 KiB
FILES = {
    "public/big.html": BIG,
    "public/app.js": MID,
    "public/data.json": b'{"items": [' + b'{"k": "v"}, ' * 100 + b'{}]}',
    "public/small.txt": b"tiny",
    "public/photo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
}


def test_large_file__compressed_on_the_pool():
    # 290 KiB is above inline_limit: the I/O thread yields, the pool compresses
    with Server(INI, files=FILES) as s:
        st, h, body = s.get("/big.html", {"Accept-Encoding": "gzip, deflate"})
        assert st == 200, st
        assert h.get("content-encoding") == "gzip", h
        assert h.get("vary") == "Accept-Encoding", h
        assert int(h["content-length"]) == len(body) < len(BIG) // 10, (h, len(body))
        assert gzip.decompress(body) == BIG
        assert "accept-ranges" not in h, h
        etag = h.get("etag")
        assert etag is None or etag.startswith('W/"'), etag


def test_cached_and_json_bodies__compressed():
    with Server(INI, files=FILES) as s:
        for path, data, ctype in (("/app.js", MID, "javascript"),
                                  ("/data.json", FILES["public/data.json"], "json")):
            st, h, body = s.get(path, {"Accept-Encoding": "gzip"})
            assert st == 200, st
            assert ctype in h.get("content-type", ""), h
            assert h.get("content-encoding") == "gzip", (path, h)
            assert gzip.decompress(body) == data


def test_client_without_gzip__identity_with_vary():
    with Server(INI, files=FILES) as s:
        for ae in (None, "identity", "gzip;q=0", "br, *;q=0"):
            st, h, body = s.get("/app.js", {"Accept-Encoding": ae} if ae else {})
            assert st == 200, st
            assert "content-encoding" not in h, (ae, h)
            assert h.get("vary") == "Accept-Encoding", (ae, h)
            assert body == MID


def test_small_binary_and_range__left_alone():
    with Server(INI, files=FILES) as s:
        st, h, body = s.get("/small.txt", {"Accept-Encoding": "gzip"})
        assert st == 200 and body == b"tiny" and "content-encoding" not in h, (st, h)
        st, h, body = s.get("/photo.png", {"Accept-Encoding": "gzip"})
        assert st == 200 and "content-encoding" not in h and "vary" not in h, h
        st, h, body = s.get("/app.js", {"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
        assert st == 206, st
        assert "content-encoding" not in h, h
        assert body == MID[:10], body


def test_head__same_length_as_get():
    with Server(INI, files=FILES) as s:
        _, hg, body = s.get("/app.js", {"Accept-Encoding": "gzip"})
        st, hh, hbody = s.request("HEAD", "/app.js", {"Accept-Encoding": "gzip"})
        assert st == 200 and hbody == b"", (st, hbody)
        assert hh.get("content-encoding") == "gzip", hh
        assert hh.get("content-length") == hg.get("content-length") == str(len(body)), (hh, hg)


def test_keep_alive__many_compressed_answers_on_one_connection():
    with Server(INI, files=FILES) as s:
        c = s.conn()
        try:
            for i in range(30):
                path = "/big.html" if i % 3 == 0 else "/app.js"
                c.request("GET", path, headers={"Accept-Encoding": "gzip"})
                r = c.getresponse()
                data = r.read()
                assert r.status == 200, r.status
                want = BIG if path == "/big.html" else MID
                assert gzip.decompress(data) == want, (i, path)
        finally:
            c.close()


ERRINI = """
[server:main]
host = 127.0.0.1
port = 0

[filter:gzip]
use = gzip

[filter:errors]
use = errorpage
pages = 404=e404.html

[app:files]
use = static
root = %(here)s/public

[pipeline:main]
pipeline = gzip errors files
"""


def test_memory_body_from_errorpage__not_compressed_for_404():
    # gzip only compresses 200 answers; the 404 page goes out as it is
    page = ("<h1>not here</h1>" * 50).encode()
    with Server(ERRINI, files=dict(FILES, **{"e404.html": page})) as s:
        st, h, body = s.get("/nope.html", {"Accept-Encoding": "gzip"})
        assert st == 404, st
        assert "content-encoding" not in h, h
        assert body == page


def test_bad_level__refused_at_load():
    bad = INI.replace("min_length = 256", "level = 12")
    s = Server(bad, files=FILES, expect_fail=True)
    try:
        rc = s.proc.wait(20)
        assert rc == 1, rc
        assert "[filter:gzip] level" in s.log(), s.log()
    finally:
        s.stop()


run_tests(globals())
