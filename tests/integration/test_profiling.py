"""Profiling and status against a running server.

The pipeline is profiling -> status (as a filter) -> sleepy (a test app
that sleeps on /slow and answers "fast" elsewhere; it blocks, so it runs
on the pool). Two mounts share the pipeline so routes can be told apart.
"""
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Server, run_tests  # noqa: E402

INI = """
[server:main]
threads = 4
plugin_path = {TESTPLUGINS}
stage_cpu_time = true

[filter:profiling]
use = profiling
slow_ms = %(slow_ms)s

[filter:status]
use = status

[app:sleepy]
use = sleepy
ms = %(sleep_ms)s
path = /slow

[pipeline:site]
pipeline = profiling status sleepy

[composite:main]
use = urlmap
/ = site
/api = site
"""


def ini(slow_ms=0, sleep_ms=2500):
    return INI.replace("%(slow_ms)s", str(slow_ms)).replace("%(sleep_ms)s", str(sleep_ms))


def get_json(s, path):
    st, hdrs, body = s.get(path)
    assert st == 200, (st, body[:300])
    assert hdrs["content-type"].startswith("application/json"), hdrs
    return json.loads(body)


# W3C Server Timing: metric *( OWS ";" OWS param ), params dur=number, desc=token|quoted
TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
METRIC = re.compile(r"^(%s)((?:\s*;\s*%s=(?:%s|\"(?:[^\"\\\\]|\\\\.)*\"))*)$" % (TOKEN, TOKEN, TOKEN))
PARAM = re.compile(r";\s*(%s)=(%s|\"(?:[^\"\\\\]|\\\\.)*\")" % (TOKEN, TOKEN))


def parse_server_timing(value):
    out = {}
    for part in value.split(", "):
        m = METRIC.match(part.strip())
        assert m, "not W3C Server-Timing syntax: %r" % part
        params = {k: v.strip('"') for k, v in PARAM.findall(m.group(2))}
        out[m.group(1)] = params
    return out


def test_server_timing_names_every_stage():
    with Server(ini()) as s:
        for path in ("/fast", "/api/fast"):
            st, hdrs, body = s.get(path)
            assert st == 200 and body == b"fast", (st, body)
            assert "server-timing" in hdrs, hdrs
            m = parse_server_timing(hdrs["server-timing"])
            assert list(m) == ["filter-status", "app-sleepy", "cpu", "total"], m
            assert m["filter-status"]["desc"] == "[filter:status]", m
            assert m["app-sleepy"]["desc"] == "[app:sleepy]", m
            for name, p in m.items():
                assert float(p["dur"]) >= 0, (name, p)
            assert float(m["total"]["dur"]) >= float(m["app-sleepy"]["dur"]), m
        # the report itself is answered by profiling: no stage below it ran
        st, hdrs, _ = s.get("/__profile")
        assert st == 200 and "server-timing" not in hdrs, hdrs


def test_json_counts_equal_requests_from_8_concurrent_clients():
    per_client = 40
    errors = []

    def client(n):
        try:
            c = s.conn()
            for i in range(per_client):
                c.request("GET", "/api/fast" if i % 4 == 0 else "/fast?i=%d" % i)
                r = c.getresponse()
                body = r.read()
                if r.status != 200 or body != b"fast":
                    errors.append((n, i, r.status, body))
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append((n, repr(e)))

    with Server(ini()) as s:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors[:5]
        j = get_json(s, "/__profile?format=json")
        routes = {(r["method"], r["route"]): r for r in j["routes"]}
        total = 8 * per_client
        api = 8 * (per_client // 4)
        assert j["requests"] == total, j
        assert routes[("GET", "/api")]["count"] == api, routes
        assert routes[("GET", "/")]["count"] == total - api, routes
        stages = {x["section"]: x for x in j["stages"]}
        assert stages["app:sleepy"]["count"] == total, stages
        assert stages["filter:status"]["count"] == total, stages
        r = routes[("GET", "/")]
        assert r["errors"] == 0 and r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] <= r["max_ms"], r
        # the same mount's report, seen below /api
        j2 = get_json(s, "/api/__profile?format=json")
        assert j2["requests"] == total, j2


def load_prometheus_parser():
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        # Debian's python3-prometheus-client lives in dist-packages, which a
        # python3 from pyenv or a venv does not see.
        sys.path.append("/usr/lib/python3/dist-packages")
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            return None
    return text_string_to_metric_families


def test_prometheus_output_parses():
    parse = load_prometheus_parser()
    if parse is None:
        print("SKIP test_prometheus_output_parses: prometheus_client is not installed "
              "(Debian: python3-prometheus-client)")
        return
    with Server(ini()) as s:
        for i in range(30):
            st, _, _ = s.get("/fast" if i % 3 else "/api/x")
            assert st == 200
        st, hdrs, body = s.get("/__profile?format=prometheus")
        assert st == 200
        assert hdrs["content-type"] == "text/plain; version=0.0.4; charset=utf-8", hdrs
        fams = {f.name: f for f in parse(body.decode())}
        assert fams["strata_route_duration_seconds"].type == "histogram", fams.keys()
        assert fams["strata_stage_duration_seconds"].type == "histogram", fams.keys()
        counts, buckets = {}, {}
        for smp in fams["strata_route_duration_seconds"].samples:
            key = (smp.labels["method"], smp.labels["route"])
            if smp.name.endswith("_count"):
                counts[key] = smp.value
            elif smp.name.endswith("_bucket"):
                buckets.setdefault(key, []).append((float(smp.labels["le"]), smp.value))
        assert counts == {("GET", "/"): 20.0, ("GET", "/api"): 10.0}, counts
        for key, bs in buckets.items():
            les = [le for le, _ in bs]
            vals = [v for _, v in bs]
            assert les == sorted(les) and les[-1] == float("inf"), les
            assert vals == sorted(vals) and vals[-1] == counts[key], (key, vals)
        stage_counts = {smp.labels["section"]: smp.value
                        for smp in fams["strata_stage_duration_seconds"].samples
                        if smp.name.endswith("_count")}
        assert stage_counts == {"filter:status": 30.0, "app:sleepy": 30.0}, stage_counts
        # counters parse too (the family name drops _total)
        errs = [f for n, f in fams.items() if n.startswith("strata_route_errors")]
        assert errs and errs[0].type == "counter", fams.keys()


def test_post_reset_clears():
    with Server(ini()) as s:
        for _ in range(5):
            s.get("/fast")
        assert get_json(s, "/__profile?format=json")["requests"] == 5
        st, hdrs, _ = s.request("POST", "/__profile?reset=1")
        assert st == 303 and hdrs["location"] == "/__profile", (st, hdrs)
        assert get_json(s, "/__profile?format=json")["requests"] == 0
        s.get("/fast")
        assert get_json(s, "/__profile?format=json")["requests"] == 1


def test_pages_are_html_with_charts():
    with Server(ini()) as s:
        s.get("/fast")
        st, hdrs, body = s.get("/__profile")
        assert st == 200 and hdrs["content-type"].startswith("text/html"), hdrs
        assert b"<svg" in body and b"app:sleepy" in body, body[:500]
        st, hdrs, body = s.get("/__status")
        assert st == 200 and hdrs["content-type"].startswith("text/html"), hdrs
        assert b'http-equiv=refresh' in body and b"[app:sleepy]" in body, body[:500]


def find(threads, request, stage=None):
    for t in threads:
        if t.get("busy") and t.get("request") == request and (stage is None or t["stage"] == stage):
            return t
    return None


def test_status_shows_slow_request_with_stage_and_growing_elapsed():
    with Server(ini(sleep_ms=2500)) as s:
        done = {}

        def slow():
            done["r"] = s.get("/slow/x?token=hunter2", timeout=20)

        t = threading.Thread(target=slow)
        t.start()
        try:
            first = None
            deadline = time.time() + 2.0
            while time.time() < deadline and first is None:
                j = get_json(s, "/__status?format=json")
                first = find(j["threads"], "GET /slow/x", "app:sleepy")
            assert first, "the slow request never showed on /__status: %s" % j
            # the status request itself is listed, in its own stage
            me = find(j["threads"], "GET /__status", "filter:status")
            assert me, j["threads"]
            assert first["client"] == "127.0.0.1", first
            # shown once: the I/O thread that handed it to the pool is not busy with it
            same = [x for x in j["threads"] if x.get("busy") and x.get("request") == "GET /slow/x"]
            assert len(same) == 1, same
            second = None
            deadline = time.time() + 2.0
            while time.time() < deadline:
                j = get_json(s, "/__status?format=json")
                second = find(j["threads"], "GET /slow/x", "app:sleepy")
                if second is None or second["elapsed_ms"] > first["elapsed_ms"]:
                    break
            assert second, "slow request gone from /__status before it was seen again"
            assert second["thread"] == first["thread"], (first, second)
            assert second["elapsed_ms"] > first["elapsed_ms"], (first, second)
            for path in ("/__status", "/__status?format=json"):
                st, _, body = s.get(path)
                assert b"hunter2" not in body and b"token" not in body, body
        finally:
            t.join(20)
        assert done["r"][0] == 200, done
        j = get_json(s, "/__status?format=json")
        assert j["totals"]["2xx"] >= 1 and j["workers"] and j["plugins"], j
        plugins = {p["section"]: p for p in j["plugins"]}
        assert plugins["filter:profiling"]["version"] == "1.0", plugins


def test_status_answers_while_every_pool_thread_is_held():
    held = ini(sleep_ms=2500).replace("threads = 4", "threads = 2")
    with Server(held) as s:
        results = []
        ts = [threading.Thread(target=lambda: results.append(s.get("/slow/%d" % i, timeout=20)))
              for i in range(2)]
        for t in ts:
            t.start()
        try:
            deadline = time.time() + 2.0
            busy = []
            while time.time() < deadline and len(busy) < 2:
                st, _, body = s.get("/__status?format=json", timeout=1.0)
                assert st == 200, st
                busy = [x for x in json.loads(body)["threads"]
                        if x.get("busy") and x.get("stage") == "app:sleepy"]
            assert len(busy) == 2, busy
            # both pool threads are asleep; the page still answers, at once
            t0 = time.time()
            st, _, body = s.get("/__status", timeout=1.0)
            assert st == 200 and time.time() - t0 < 1.0, (st, time.time() - t0)
        finally:
            for t in ts:
                t.join(20)
        assert [r[0] for r in results] == [200, 200], results


def test_slow_ms_logs_slow_request_once_with_stages():
    with Server(ini(slow_ms=100, sleep_ms=300)) as s:
        s.get("/fast")
        st, _, _ = s.get("/slow/y?password=x")
        assert st == 200
        line = s.wait_log(r"slow request GET /slow/y ")
        assert "app:sleepy" in line and "filter:status" in line, line
        assert "password" not in line, line
        s.get("/fast")
        s.get("/__profile")
        lines = [ln for ln in s.log().splitlines() if "slow request" in ln]
        assert len(lines) == 1, lines


run_tests(globals())
