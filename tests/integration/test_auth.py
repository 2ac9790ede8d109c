"""test_auth.py — the auth filter end to end: every htpasswd scheme through
a running server, protect/exempt, reload without restart, throttling.

Hashes are made at test time by Apache's `htpasswd` (apache2-utils)."""
import base64
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, run_tests  # noqa: E402

SCHEMES = [
    ("apr1", ["-m"]),
    ("bcrypt", ["-B"]),
    ("bcrypt4", ["-B", "-C", "4"]),
    ("bcrypt10", ["-B", "-C", "10"]),
    ("sha256", ["-2"]),
    ("sha256r", ["-2", "-r", "20000"]),
    ("sha512", ["-5"]),
    ("sha512r", ["-5", "-r", "1000"]),
    ("sha1", ["-s"]),
]


def hashline(user, password, opts):
    out = subprocess.run(["htpasswd", "-nb"] + opts + [user, password],
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


def basic(user, password):
    raw = ("%s:%s" % (user, password)).encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def ini(extra=""):
    return """
[server:main]
threads = 2

[filter:log]
use = logging
file = -
format = common

[filter:auth]
use = auth
htpasswd = htpasswd
realm = Staging
%s

[app:files]
use = static
root = %%(here)s/public

[pipeline:main]
pipeline = log auth files
""" % extra


FILES = {
    "public/index.html": "home\n",
    "public/private/secret.txt": "the secret\n",
    "public/healthz": "ok\n",
}


def server(htpasswd_text, extra="", **kw):
    files = dict(FILES)
    files["htpasswd"] = htpasswd_text
    return Server(ini(extra), files=files, **kw)


def test_each_scheme_end_to_end():
    lines = [hashline(name, "pw-" + name, opts) for name, opts in SCHEMES]
    with server("\n".join(lines) + "\n") as s:
        for name, _ in SCHEMES:
            st, h, body = s.get("/private/secret.txt", basic(name, "pw-" + name))
            assert st == 200, (name, st, body)
            assert body == b"the secret\n", (name, body)
            st, h, body = s.get("/private/secret.txt", basic(name, "pw-" + name + "x"))
            assert st == 401, (name, st)
            assert h.get("www-authenticate") == 'Basic realm="Staging", charset="UTF-8"', h
        # the access log names the authenticated user (%u)
        s.stop()
        out = s.stdout()
        for name, _ in SCHEMES:
            assert (" - %s [" % name) in out, (name, out)
        assert "pw-" not in s.log() + out, "a password reached a log"


def test_missing_or_malformed_credentials():
    with server(hashline("alice", "pw", ["-m"]) + "\n") as s:
        st, h, _ = s.get("/")
        assert st == 401 and h["www-authenticate"].startswith('Basic realm="Staging"'), (st, h)
        for value, want in [("Bearer x", 401), ("Basic", 400), ("Basic !!!", 400),
                            ("Basic " + base64.b64encode(b"nocolon").decode(), 400),
                            ("Basic " + "A" * 6000, 400),
                            ("Basic " + base64.b64encode(b"alice:p\x00w").decode(), 400)]:
            st, _, _ = s.get("/", {"Authorization": value})
            assert st == want, (value[:40], st, want)
        st, _, _ = s.get("/", basic("alice", "pw"))
        assert st == 200, st
        st, _, _ = s.request("HEAD", "/", basic("alice", "nope"))
        assert st == 401, st


def test_protect_and_exempt_prefixes():
    extra = "protect = /private\nexempt = /private/open /healthz"
    text = hashline("alice", "pw", ["-B", "-C", "4"]) + "\n"
    files = {"public/private/open/page.txt": "open page\n"}
    files.update(FILES)
    files["htpasswd"] = text
    with Server(ini(extra), files=files) as s:
        for path, want in [("/", 200), ("/index.html", 200), ("/healthz", 200),
                           ("/private/secret.txt", 401), ("/private/", 401),
                           ("/private/open/page.txt", 200),
                           ("//private//secret.txt", 401),
                           ("/private/open/../secret.txt", 401),
                           ("/private/open/%2e%2e/secret.txt", 401),
                           ("/index.html/../private/secret.txt", 401)]:
            st, _, body = s.get(path)
            assert st == want, (path, st, want, body)
        st, _, body = s.get("/private/secret.txt", basic("alice", "pw"))
        assert st == 200 and body == b"the secret\n", (st, body)


def poll_log(s, pattern, timeout=5):
    """The file is looked at when requests come: send some until `pattern` is logged."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        s.get("/", basic("alice", "pw"))
        if re.search(pattern, s.log()):
            return
        time.sleep(0.1)
    raise AssertionError("no log line matching %r in:\n%s" % (pattern, s.log()))


def test_user_added_to_file_works_within_2s_without_restart():
    # polling with wrong credentials must not hit the failure throttle
    with server(hashline("alice", "pw", ["-m"]) + "\n", "max_failures = 0") as s:
        st, _, _ = s.get("/", basic("bob", "new-pw"))
        assert st == 401, st
        # as a user would: htpasswd edits the file in place
        subprocess.run(["htpasswd", "-b", "-B", "-C", "4", os.path.join(s.dir, "htpasswd"),
                        "bob", "new-pw"], check=True, capture_output=True)
        t0 = time.time()
        while True:
            st, _, _ = s.get("/", basic("bob", "new-pw"))
            if st == 200 or time.time() - t0 > 2.0:
                break
            time.sleep(0.05)
        assert st == 200, "bob still refused %.2f s after the file changed:\n%s" % (
            time.time() - t0, s.log())
        assert s.get("/", basic("alice", "pw"))[0] == 200
        s.wait_log(r"\[filter:auth\] reloaded '.*htpasswd': 2 users")

        # a password changed in the file: the cached one stops working
        subprocess.run(["htpasswd", "-b", "-m", os.path.join(s.dir, "htpasswd"), "alice", "pw2"],
                       check=True, capture_output=True)
        t0 = time.time()
        while s.get("/", basic("alice", "pw"))[0] == 200 and time.time() - t0 < 2.0:
            time.sleep(0.05)
        assert s.get("/", basic("alice", "pw"))[0] == 401
        assert s.get("/", basic("alice", "pw2"))[0] == 200


def test_broken_file_keeps_last_good_copy():
    with server(hashline("alice", "pw", ["-2"]) + "\n") as s:
        assert s.get("/", basic("alice", "pw"))[0] == 200
        with open(os.path.join(s.dir, "htpasswd"), "a") as f:
            f.write(hashline("eve", "pw", ["-d"]) + "\n")
        poll_log(s, r"line 2: user 'eve': DES crypt .* keeping the last good copy \(1 user\)")
        assert s.get("/", basic("alice", "pw"))[0] == 200
        os.unlink(os.path.join(s.dir, "htpasswd"))
        poll_log(s, r"cannot stat '.*htpasswd': No such file or directory; keeping the last good")
        assert s.get("/", basic("alice", "pw"))[0] == 200


def test_des_crypt_refused_at_start():
    text = hashline("alice", "pw", ["-m"]) + "\n" + hashline("bob", "pw", ["-d"]) + "\n"
    s = server(text, expect_fail=True)
    try:
        rc = s.proc.wait(20)
        assert rc == 1, rc
        log = s.log()
        assert "[filter:auth] htpasswd:" in log and "line 2: user 'bob'" in log, log
        assert "htpasswd -d" in log, log
    finally:
        s.stop()


def test_failures_logged_and_throttled():
    extra = "max_failures = 3\nfailure_window = 60"
    with server(hashline("alice", "pw", ["-B", "-C", "4"]) + "\n", extra) as s:
        for _ in range(3):
            assert s.get("/", basic("alice", "hunter2"))[0] == 401
        st, h, _ = s.get("/", basic("alice", "pw"))
        assert st == 429, st
        assert 1 <= int(h["retry-after"]) <= 60, h
        s.wait_log(r'authentication failed for user "alice" from 127\.0\.0\.1: wrong password')
        s.wait_log(r"127\.0\.0\.1: 3 failed attempts")
        assert "hunter2" not in s.log()


def test_cache_pays_bcrypt_once():
    # cost 12 takes a few hundred ms per check; ten cached requests must
    # cost far less than ten checks
    with server(hashline("alice", "pw", ["-B", "-C", "12"]) + "\n") as s:
        t0 = time.time()
        assert s.get("/", basic("alice", "pw"))[0] == 200
        first = time.time() - t0
        t0 = time.time()
        for _ in range(10):
            assert s.get("/", basic("alice", "pw"))[0] == 200
        ten = time.time() - t0
        assert ten < 3 * first, "10 cached requests took %.3f s, one check %.3f s" % (ten, first)


run_tests(globals())
