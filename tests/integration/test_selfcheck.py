#!/usr/bin/env python3
"""--selfcheck-controlplane: exit 0 only on HTTP 200 from /api/health, 1 on
anything else, 2 on bad usage; never a token on the wire."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ControlPlane, main, run_agent  # noqa

TOKEN = "tok-must-not-be-sent-0123"


class Selfcheck(unittest.TestCase):

    def cp(self, **kw):
        cp = ControlPlane(**kw)
        self.addCleanup(cp.close)
        cp.start()
        return cp

    def run_check(self, cp, *extra, env=None):
        args = ["--selfcheck-controlplane", "-server", cp.url] + list(extra)
        if cp.ca_file and "-no-ca" not in extra:
            args += ["-ca-file", cp.ca_file]
        args = [a for a in args if a != "-no-ca"]
        return run_agent(args, env=env, timeout=20)

    def test_healthy(self):
        cp = self.cp()
        rc, out, err = self.run_check(cp, env={"LATTICE_NODE_TOKEN": TOKEN})
        self.assertEqual(rc, 0, err)
        reqs = cp.requests()
        self.assertEqual([(r.method, r.path) for r in reqs],
                         [("GET", "/api/health")])
        self.assertNotIn("authorization", reqs[0].headers)
        self.assertNotIn(TOKEN, repr(reqs[0].headers))
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertRegex(lines[0], r"HTTP 200 in \d+ ms")

    def test_unhealthy_statuses(self):
        cp = self.cp()
        for status in (503, 500, 404, 204):
            cp.fault("/api/health", "status", count=1, status=status)
            rc, out, err = self.run_check(cp)
            self.assertEqual(rc, 1, (status, err))
            self.assertIn("HTTP %d" % status, err)

    def test_redirect_is_failure(self):
        cp = self.cp()
        other = self.cp()
        cp.fault("/api/health", "redirect", count=1,
                 location=other.url + "/api/health")
        rc, out, err = self.run_check(cp)
        self.assertEqual(rc, 1, err)
        self.assertEqual(other.requests(), [])

    def test_timeout_is_bounded(self):
        cp = self.cp()
        cp.fault("/api/health", "delay", count=1, seconds=10)
        rc, out, err = self.run_check(cp, "-timeout", "500ms")
        self.assertEqual(rc, 1, err)
        self.assertIn("timeout", err)

    def test_connection_refused(self):
        cp = self.cp()
        cp.stop()
        rc, out, err = self.run_check(cp)
        self.assertEqual(rc, 1, err)

    def test_tls_with_ca_file(self):
        cp = self.cp(tls="ok")
        rc, out, err = self.run_check(cp)
        self.assertEqual(rc, 0, err)

    def test_tls_untrusted(self):
        for variant in ("untrusted", "expired", "wrong-host"):
            cp = self.cp(tls=variant)
            rc, out, err = self.run_check(cp)
            self.assertEqual(rc, 1, (variant, err))
            self.assertEqual(cp.requests(), [])

    def test_tls_without_ca_file_fails(self):
        cp = self.cp(tls="ok")
        rc, out, err = self.run_check(cp, "-no-ca")
        self.assertEqual(rc, 1, err)

    def test_remote_cleartext_refused(self):
        rc, out, err = run_agent(["--selfcheck-controlplane", "-server",
                                  "http://lattice.example.com"])
        self.assertEqual(rc, 2, err)
        self.assertIn("-allow-insecure-http", err)

    def test_bad_usage(self):
        rc, out, err = run_agent(["--selfcheck-controlplane", "-server",
                                  "ftp://127.0.0.1/"])
        self.assertEqual(rc, 2, err)
        rc, out, err = run_agent(["--selfcheck-controlplane", "-bogus"])
        self.assertEqual(rc, 2, err)


if __name__ == "__main__":
    main()
