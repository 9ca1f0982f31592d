#!/usr/bin/env python3
"""The proxy usage bridge end to end: file and loopback HTTP sources, the
three formats, the local secret, limits, faults turned into collector
health reports, and heartbeats that never wait for a slow source."""

import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AgentTestCase, StatSource, main  # noqa

SECRET = "usage-secret-9f8e7d"
USAGE = "/api/agent/proxy-usage"


class UsageBase(AgentTestCase):

    def source(self, **kw):
        src = StatSource(secret=kw.pop("secret", SECRET), **kw)
        src.start()
        self.addCleanup(src.close)
        return src

    def snapshots(self, status=None):
        out = [r.json["snapshot"] for r in self.cp.requests(USAGE)
               if r.json is not None]
        if status is not None:
            out = [s for s in out if s.get("collector_status") == status]
        return out

    def wait_snapshot(self, pred, timeout=10, what="usage snapshot"):
        return self.cp.wait_for(
            lambda: next((s for s in self.snapshots() if pred(s)), None),
            timeout=timeout, what=what)

    def assert_no_secret_leaked(self, agent):
        for r in self.cp.requests():
            self.assertNotIn(SECRET.encode(), r.body or b"")
            self.assertNotIn(SECRET, repr(r.headers))
        self.assertNotIn(SECRET, agent.log_text())


class FileSource(UsageBase):

    def test_file_snapshot(self):
        path = os.path.join(self.tmp, "usage.json")
        with open(path, "w") as f:
            json.dump({"node_id": "someone-else", "core_uptime_sec": 42,
                       "user_bytes": {" alice ": 10, "alice": 5, "bob": 1,
                                      "love@example.com": 9}}, f)
        a = self.start_agent("-proxy-usage-file", path, interval="300ms")
        snap = self.wait_snapshot(lambda s: s["collector_status"] == "ok")
        req = self.cp.requests(USAGE)[0]
        self.assertEqual(req.json["node_id"], self.node_id)
        self.assertEqual(snap["node_id"], self.node_id)
        self.assertEqual(snap["user_bytes"], {"alice": 15, "bob": 1})
        self.assertEqual(snap["core_uptime_sec"], 42)
        self.assertEqual(snap["collector_source"], "file")
        self.assertIn("at", snap)
        self.assertIn("collector_checked_at", snap)
        a.wait_log(r"left out 1 user id.*love@example.com")

    def test_fifo_does_not_block(self):
        path = os.path.join(self.tmp, "usage.fifo")
        os.mkfifo(path)
        self.start_agent("-proxy-usage-file", path, interval="300ms")
        snap = self.wait_snapshot(lambda s: s["collector_status"] == "error")
        self.assertNotIn("user_bytes", snap)
        self.assertTrue(snap["collector_error"])
        # Heartbeats keep flowing.
        self.cp.wait_requests("/api/agent/metrics", 3)

    def test_file_too_large_and_missing(self):
        path = os.path.join(self.tmp, "big.json")
        with open(path, "w") as f:
            f.write(" " * (1024 * 1024) + "{}")
        a = self.start_agent("-proxy-usage-file", path, interval="300ms")
        snap = self.wait_snapshot(lambda s: s["collector_status"] == "error")
        self.assertLessEqual(len(snap["collector_error"].encode()), 256)
        os.unlink(path)
        self.cp.wait_for(lambda: len(self.snapshots("error")) >= 3)
        # The same failure is logged once, the new one once.
        a.wait_log(r"collector failed")
        errors = [l for l in a.log_lines() if "collector failed" in l]
        self.assertLessEqual(len(errors), 2, errors)


class HttpSource(UsageBase):

    def check_format(self, setter):
        src = self.source()
        setter(src)
        a = self.start_agent("-proxy-usage-url", src.url_for(),
                             "-proxy-usage-secret", SECRET,
                             interval="300ms")
        snap = self.wait_snapshot(lambda s: s["collector_status"] == "ok")
        got = src.requests()[0]
        self.assertEqual(got.headers["authorization"], "Bearer " + SECRET)
        self.assertEqual(got.headers["accept"], "application/json")
        self.assertEqual(snap["collector_source"], "http")
        a.stop()
        self.assert_no_secret_leaked(a)
        return snap

    def test_lattice_format(self):
        snap = self.check_format(lambda s: s.set_lattice({"alice": 7}, 9))
        self.assertEqual(snap["user_bytes"], {"alice": 7})
        self.assertEqual(snap["core_uptime_sec"], 9)

    def test_envelope_format(self):
        snap = self.check_format(lambda s: s.set_envelope({"bob": 3}))
        self.assertEqual(snap["user_bytes"], {"bob": 3})

    def test_xray_format_with_strings(self):
        snap = self.check_format(lambda s: s.set_xray(
            {"carol": (1, 2), "dave": (10, 0)},
            extra=[("inbound>>>api>>>traffic>>>uplink", 99)],
            as_strings=True))
        self.assertEqual(snap["user_bytes"], {"carol": 3, "dave": 10})

    def test_secret_file_and_sighup(self):
        src = self.source()
        src.set_lattice({"alice": 1})
        sf = os.path.join(self.tmp, "secret")
        with open(sf, "w") as f:
            f.write("wrong\n")
        a = self.start_agent("-proxy-usage-url", src.url_for(),
                             "-proxy-usage-secret-file", sf,
                             interval="300ms")
        self.wait_snapshot(lambda s: s["collector_status"] == "error" and
                           "401" in s["collector_error"])
        with open(sf, "w") as f:
            f.write(SECRET + "\n")
        a.signal(signal.SIGHUP)
        self.wait_snapshot(lambda s: s["collector_status"] == "ok")
        self.assert_no_secret_leaked(a)

    def test_localhost_pinned_and_proxy_env_ignored(self):
        src = self.source()
        src.set_lattice({"alice": 1})
        # A proxy that does not exist: the source must not go through it.
        env = {"http_proxy": "http://127.0.0.1:9", "HTTPS_PROXY":
               "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9"}
        self.start_agent("-proxy-usage-url", src.url_for("localhost"),
                         "-proxy-usage-secret", SECRET, interval="300ms",
                         env=env)
        self.wait_snapshot(lambda s: s["collector_status"] == "ok")

    def test_faults_become_health_reports(self):
        src = self.source()
        src.set_lattice({"alice": 1})
        cases = [("huge", {}, "1 MiB"), ("status", {"status": 500}, "500"),
                 ("redirect", {"location": "http://127.0.0.1:9/"}, "30"),
                 ("garbage", {"body": b"\x00\x01 nope"}, "")]
        a = self.start_agent("-proxy-usage-url", src.url_for(),
                             "-proxy-usage-secret", SECRET, interval="200ms")
        for kind, params, needle in cases:
            with self.subTest(kind=kind):
                n = len(self.snapshots("error"))
                src.fault("/stats", kind, count=1, **params)
                snap = self.cp.wait_for(
                    lambda: self.snapshots("error")[n:] and
                    self.snapshots("error")[-1], timeout=10, what=kind)
                self.assertNotIn("user_bytes", snap)
                self.assertIn(needle, snap["collector_error"])
                self.assertLessEqual(len(snap["collector_error"].encode()),
                                     256)
        self.assertTrue(a.running)

    def test_slow_source_times_out_without_delaying_heartbeats(self):
        src = self.source()
        src.set_lattice({"alice": 1})
        src.fault("/stats", "delay", count=None, seconds=30)
        self.start_agent("-proxy-usage-url", src.url_for(),
                         "-proxy-usage-secret", SECRET,
                         "-proxy-usage-timeout", "1s", interval="300ms")
        snap = self.wait_snapshot(lambda s: s["collector_status"] == "error",
                                  timeout=10)
        self.assertIn("timed out", snap["collector_error"])
        # While the source hangs, heartbeats stay on their 300 ms beat.
        beats = self.cp.wait_requests("/api/agent/metrics", 6, timeout=10)
        gaps = self.cp.intervals("/api/agent/metrics")
        self.assertLess(max(gaps), 0.9, gaps)
        self.assertTrue(beats)

    def test_source_down(self):
        src = self.source()
        src.stop()
        self.start_agent("-proxy-usage-url", src.url_for(),
                         "-proxy-usage-secret", SECRET, interval="300ms")
        snap = self.wait_snapshot(lambda s: s["collector_status"] == "error")
        self.assertIn("unreachable", snap["collector_error"])

    def test_server_refusal_logged_once(self):
        self.cp.set_proxy_profile(self.node_id, False)
        src = self.source()
        src.set_lattice({"alice": 1})
        a = self.start_agent("-proxy-usage-url", src.url_for(),
                             "-proxy-usage-secret", SECRET, interval="200ms")
        self.cp.wait_for(lambda: len([r for r in self.cp.requests(USAGE)
                                      if r.status == 400]) >= 3)
        refusals = [l for l in a.log_lines()
                    if "server did not accept the report" in l]
        self.assertEqual(len(refusals), 1, refusals)


if __name__ == "__main__":
    main()
