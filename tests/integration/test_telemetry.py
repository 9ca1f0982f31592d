#!/usr/bin/env python3
"""What the server receives from the daemon's collectors, field by field,
against values this test computes independently: from a fixture tree
(-host-root) and from the live /proc of this machine."""

import os
import platform
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AgentTestCase, main  # noqa

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "fixtures")

GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
          "i686": "386", "riscv64": "riscv64", "ppc64le": "ppc64le",
          "s390x": "s390x"}


def meminfo(root="/"):
    out = {}
    with open(os.path.join(root, "proc/meminfo")) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = int(v.split()[0]) * 1024
    return out


def os_release(root="/"):
    for p in ("etc/os-release", "usr/lib/os-release"):
        try:
            with open(os.path.join(root, p)) as f:
                text = f.read()
            break
        except OSError:
            continue
    else:
        return {}
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and not k.startswith("#"):
            out[k.strip()] = v.strip().strip('"').strip("'")
    return out


def online_cpus():
    n = 0
    with open("/sys/devices/system/cpu/online") as f:
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n += int(hi or lo) - int(lo) + 1
    return n


class FixtureTree(AgentTestCase):
    """debian12-kvm-amd64 through the whole daemon path."""

    def test_fixture_facts_and_metrics(self):
        root = os.path.join(FIXTURES, "debian12-kvm-amd64")
        self.start_agent("-host-root", root, interval="300ms")
        hello = self.cp.wait_requests("/api/agent/hello", 1)[0].json
        beats = self.cp.wait_requests("/api/agent/metrics", 2)
        facts = dict(hello["host_facts"])
        facts.pop("reported_at")
        self.assertEqual(facts, {
            "hostname": "ttrss", "os": "linux", "platform": "debian",
            "platform_version": "12", "kernel_version": "6.1.0-18-amd64",
            "arch": GOARCH.get(platform.machine(), platform.machine()),
            "cpu_cores": 1, "cpu_model": "QEMU Virtual CPU version 2.5+",
            "memory_total": 2052677632, "swap_total": 0,
            "virtualization": "kvm", "boot_time": "2016-12-07T04:28:38Z"})
        st = os.statvfs(root)
        for b in beats:
            m = b.json["metrics"]
            self.assertEqual(m["memory_total"], 2052677632)
            self.assertEqual(m["memory_used"], 1109897216)
            self.assertEqual((m["load1"], m["load5"], m["load15"]),
                             (0.0, 0.02, 0.0))
            self.assertEqual(m["uptime_seconds"], 2142)
            self.assertEqual(m["net_rx_bytes"], 2576124525)
            self.assertEqual(m["net_tx_bytes"], 4669169947)
            # the files do not move: no CPU time passed, no traffic
            self.assertEqual(m["cpu_percent"], 0)
            self.assertEqual((m["net_rx_speed"], m["net_tx_speed"]), (0, 0))
            self.assertEqual(m["disk_total"], st.f_blocks * st.f_frsize)


class LiveHost(AgentTestCase):

    def test_live_facts_and_metrics(self):
        self.start_agent(interval="300ms")
        hello = self.cp.wait_requests("/api/agent/hello", 1)[0].json
        beat = self.cp.wait_requests("/api/agent/metrics", 2)[-1].json
        facts = hello["host_facts"]
        mi = meminfo()
        osr = os_release()
        with open("/proc/sys/kernel/osrelease") as f:
            kernel = f.read().strip()
        with open("/proc/stat") as f:
            btime = next(int(l.split()[1]) for l in f
                         if l.startswith("btime"))
        import datetime
        boot = datetime.datetime.fromtimestamp(
            btime, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(facts["hostname"], socket.gethostname()[:96])
        self.assertEqual(facts["kernel_version"], kernel)
        self.assertEqual(facts["platform"], osr.get("ID", ""))
        self.assertEqual(facts["platform_version"],
                         osr.get("VERSION_ID", ""))
        self.assertEqual(facts["arch"], GOARCH.get(platform.machine(),
                                                   platform.machine()))
        self.assertEqual(facts["cpu_cores"], online_cpus())
        self.assertEqual(facts["memory_total"], mi["MemTotal"])
        self.assertEqual(facts["swap_total"], mi["SwapTotal"])
        self.assertEqual(facts["boot_time"], boot)

        m = beat["metrics"]
        self.assertEqual(m["memory_total"], mi["MemTotal"])
        # moving values: within a generous band of what we read now
        used = mi["MemTotal"] - mi["MemAvailable"]
        self.assertLess(abs(m["memory_used"] - used), 512 << 20)
        st = os.statvfs("/")
        self.assertEqual(m["disk_total"], st.f_blocks * st.f_frsize)
        self.assertTrue(0 <= m["cpu_percent"] <= 100)
        with open("/proc/uptime") as f:
            up = float(f.read().split()[0])
        self.assertLess(abs(m["uptime_seconds"] - up), 10)
        rx = 0
        with open("/proc/net/dev") as f:
            for line in f.readlines()[2:]:
                name, _, rest = line.partition(":")
                if name.strip() != "lo":
                    rx += int(rest.split()[0])
        self.assertLessEqual(m["net_rx_bytes"], rx)


if __name__ == "__main__":
    main()
