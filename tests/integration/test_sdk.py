"""The SDK as a plugin author meets it: `make install DESTDIR=...`, then the
hello example built out of tree with pkg-config, its cmocka test run, and
the .so loaded by name from plugin_path by the installed strata."""
import os
import shutil
import subprocess
import tempfile

from harness import ROOT, Server, run_tests

DEST = tempfile.mkdtemp(prefix="strata-dest-")
PREFIX = "/usr/local"


def sh(cmd, **kw):
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True, **kw)
    assert p.returncode == 0, "%s\n%s\n%s" % (cmd, p.stdout, p.stderr)
    return p.stdout


def test_install_then_build_hello_out_of_tree_and_load_it():
    build = tempfile.mkdtemp(prefix="strata-b-")
    sh("make -s -C %s install BUILD=%s DESTDIR=%s PREFIX=%s" % (ROOT, build, DEST, PREFIX))
    root = DEST + PREFIX
    for f in ["bin/strata", "include/strata/strata.h", "include/strata/strata-test.h",
              "lib/pkgconfig/strata-plugin.pc", "lib/libstrata-test.a",
              "lib/strata/plugins/hello.so"]:
        assert os.path.exists(os.path.join(root, f)), f
    work = tempfile.mkdtemp(prefix="strata-hello-")
    for f in ["hello.c", "test_hello.c", "Makefile"]:
        shutil.copy(os.path.join(ROOT, "sdk/examples/hello", f), work)
    pc = "pkg-config --define-variable=prefix=%s" % root
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(root, "lib/pkgconfig"))
    sh("make -s -C %s hello.so test_hello PKG_CONFIG='%s'" % (work, pc), env=env)
    out = sh(os.path.join(work, "test_hello"))
    assert out.count("[       OK ]") == 3, out
    # the installed binary finds the out-of-tree plugin by name in plugin_path
    strata = os.path.join(root, "bin/strata")
    listing = sh("%s plugins hello --path %s" % (strata, work))
    assert "file:     %s/hello.so" % work in listing, listing
    ini = "[server:main]\nplugin_path = %s\n[app:main]\nuse = hello\ngreeting = Out of tree\n" % work
    os.environ["STRATA_BIN"] = strata
    with Server(ini, binary=strata) as s:
        st, _, body = s.get("/here")
        assert st == 200 and body == b"Out of tree, /here\n", (st, body)


if __name__ == "__main__":
    run_tests(globals())
