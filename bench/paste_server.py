"""paste_server.py — the Python Paste peer of `make bench`.

    /usr/bin/python3 bench/paste_server.py DOCROOT HTPASSWD ACCESS_LOG THREADS

TransLogger -> AuthBasicHandler -> StaticURLParser on paste.httpserver
with its thread pool, bound to 127.0.0.1 on an ephemeral port. Prints
"auth check: ..." (how passwords are checked) and then
"listening on http://127.0.0.1:PORT" on stderr, and serves until SIGTERM.

Passwords are checked against the htpasswd file on every request, as
Paste's AuthBasicHandler calls authfunc per request: with passlib's
HtpasswdFile when python3-passlib is installed (apr1 and bcrypt), else
with the crypt module (bcrypt and SHA-crypt, not apr1), else a plain
dict of known test passwords (said on stderr, and so in BENCHMARKS.md).
"""
import logging
import os
import signal
import sys

from paste.auth.basic import AuthBasicHandler
from paste.httpserver import serve
from paste.translogger import TransLogger
from paste.urlparser import StaticURLParser


def make_check(htpasswd):
    try:
        from passlib.apache import HtpasswdFile
        ht = HtpasswdFile(htpasswd)

        def check(environ, user, password):
            return bool(ht.check_password(user, password))
        return check, "passlib HtpasswdFile (apr1 and bcrypt, per request)"
    except ImportError:
        pass
    entries = {}
    with open(htpasswd) as f:
        for line in f:
            if ":" in line:
                u, h = line.strip().split(":", 1)
                entries[u] = h
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import crypt

        def check(environ, user, password):
            h = entries.get(user)
            return bool(h) and not h.startswith("$apr1$") and crypt.crypt(password, h) == h
        return check, "crypt module (bcrypt per request; apr1 unsupported)"
    except ImportError:
        pass
    plain = {"bench": "benchpw", "bencha": "benchpw"}

    def check(environ, user, password):
        return plain.get(user) == password
    return check, "plain dict (no hash: neither passlib nor crypt available)"


def main():
    docroot, htpasswd, access_log, threads = sys.argv[1:5]
    logger = logging.getLogger("wsgi")
    handler = logging.FileHandler(access_log)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    check, how = make_check(htpasswd)
    app = StaticURLParser(docroot)
    app = AuthBasicHandler(app, "bench", check)
    app = TransLogger(app, logger=logger, setup_console_handler=False)

    # request_queue_size is the listen backlog (Paste's default, 5, makes
    # 64 connecting clients hit SYN retries: a config artefact, not Paste).
    server = serve(app, host="127.0.0.1", port=0, start_loop=False, use_threadpool=True,
                   threadpool_workers=int(threads), request_queue_size=1024)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    sys.stderr.write("auth check: %s\n" % how)
    sys.stderr.write("listening on http://127.0.0.1:%d\n" % server.server_address[1])
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        os._exit(0)   # the pool's worker threads are not daemons


if __name__ == "__main__":
    main()
