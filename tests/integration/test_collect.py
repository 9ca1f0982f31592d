#!/usr/bin/env python3
"""--collect prints HostFacts and a metrics sample as JSON without touching
the network, on this machine and on every fixture tree."""

import json
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, run_agent, StatSource  # noqa

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "fixtures")
TREES = sorted(d for d in os.listdir(FIXTURES)
               if os.path.isdir(os.path.join(FIXTURES, d)) and
               d != "proxy-stats")


def expected(tree):
    """The EXPECTED block of a fixture README as {key: first word}."""
    out = {}
    in_block = False
    with open(os.path.join(FIXTURES, tree, "README.txt")) as f:
        for line in f:
            if line.startswith("EXPECTED"):
                in_block = True
                continue
            if in_block and ":" in line and line.startswith("  "):
                key, _, val = line.strip().partition(":")
                out[key.strip()] = val.strip()
    return out


class Collect(unittest.TestCase):

    def collect(self, *args):
        rc, out, err = run_agent(["--collect"] + list(args), timeout=20)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def test_live(self):
        doc = self.collect()
        facts, m = doc["host_facts"], doc["metrics"]
        self.assertEqual(facts["os"], "linux")
        self.assertEqual(facts["hostname"], socket.gethostname()[:96])
        self.assertGreaterEqual(facts["cpu_cores"], 1)
        self.assertGreater(facts["memory_total"], 0)
        self.assertTrue(0 <= m["cpu_percent"] <= 100)
        self.assertGreater(m["memory_total"], 0)
        self.assertNotIn("proxy_usage", doc)

    def test_every_fixture_tree(self):
        checked = 0
        for tree in TREES:
            with self.subTest(tree=tree):
                doc = self.collect("-host-root", os.path.join(FIXTURES, tree))
                facts, m = doc["host_facts"], doc["metrics"]
                exp = expected(tree)
                for key in ("hostname", "platform", "platform_version",
                            "kernel_version", "virtualization"):
                    if key in exp:
                        want = exp[key].split("  ")[0]
                        if want.startswith('"'):
                            continue    # described, checked in test_facts
                        if want.startswith("(") or want.startswith("empty"):
                            want = ""
                        self.assertEqual(facts.get(key, ""), want, key)
                        checked += 1
                for key in ("memory_total", "swap_total", "cpu_cores"):
                    if key in exp and exp[key].split()[0].isdigit():
                        self.assertEqual(facts.get(key, 0),
                                         int(exp[key].split()[0]), key)
                        checked += 1
                if "net_rx_bytes" in exp:
                    self.assertEqual(m["net_rx_bytes"],
                                     int(exp["net_rx_bytes"].split()[0]))
                    checked += 1
        self.assertGreater(checked, 50)

    def test_with_usage_file(self):
        d = self.id().replace(".", "_")
        path = os.path.join("/tmp", d + ".json")
        with open(path, "w") as f:
            json.dump({"core_uptime_sec": 5, "user_bytes": {"alice": 7}}, f)
        self.addCleanup(os.unlink, path)
        doc = self.collect("-node-id", "n1", "-proxy-usage-file", path)
        snap = doc["proxy_usage"]["snapshot"]
        self.assertEqual(snap["user_bytes"], {"alice": 7})
        self.assertEqual(snap["collector_status"], "ok")

    def test_with_usage_url(self):
        src = StatSource(secret="s3")
        src.start()
        self.addCleanup(src.close)
        src.set_xray({"bob": (1, 2)})
        doc = self.collect("-node-id", "n1", "-proxy-usage-url",
                           src.url_for(), "-proxy-usage-secret", "s3")
        self.assertEqual(doc["proxy_usage"]["snapshot"]["user_bytes"],
                         {"bob": 3})


if __name__ == "__main__":
    main()
