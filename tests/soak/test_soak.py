#!/usr/bin/env python3
"""Soak: the daemon at -interval 100ms for LATTICE_SOAK_SECONDS (600 by
default) with a proxy usage source (and tasks, once the agent polls for
them).  Prints RSS and open fd count after a warm-up and at the end, and
fails if either grew beyond a small tolerance, if heartbeats stalled, or if
a task result went missing.  Suite 'soak' only: `meson test --suite soak`
(plain `meson test` and contrib/test.sh leave it out)."""

import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
from harness import AgentTestCase, StatSource, main  # noqa: E402

SECONDS = float(os.environ.get("LATTICE_SOAK_SECONDS", "600"))
WARMUP = min(60.0, SECONDS / 5)
RSS_TOLERANCE_KIB = int(os.environ.get("LATTICE_SOAK_RSS_KIB", "1024"))
FD_TOLERANCE = 2
SECRET = "soak-secret-5e5e"
EXEC = ["-allow-exec"] + (["-allow-root-exec"] if os.geteuid() == 0 else [])


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Soak(AgentTestCase):

    def wait_until(self, when):
        """Wake on control-plane events until the monotonic time `when`."""
        while True:
            left = when - time.monotonic()
            if left <= 0:
                return
            self.cp.wait_event(min(left, 1.0))

    def test_soak(self):
        src = StatSource(secret=SECRET)
        src.start()
        self.addCleanup(src.close)
        src.set_lattice({"alice": 1, "bob": 2})
        a = self.start_agent("-proxy-usage-url", src.url_for(),
                             "-proxy-usage-secret", SECRET, *EXEC,
                             interval="100ms")
        self.cp.wait_requests("/api/agent/metrics", 1, timeout=10)
        t0 = time.monotonic()
        tasks = []
        next_task = t0
        samples = []

        def sample(label):
            s = (time.monotonic() - t0, rss_kib(a.pid), fd_count(a.pid))
            samples.append(s)
            print("soak %-5s t=%6.1fs rss=%d KiB fds=%d" % ((label,) + s),
                  flush=True)
            return s

        sample("start")
        end = t0 + SECONDS
        warm = t0 + WARMUP
        base = None
        next_tick = t0 + 60
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_task and now < end - 15:
                tasks.append(self.cp.enqueue_task(
                    self.node_id, script="echo soak; echo err >&2"))
                next_task = now + 2
            if base is None and now >= warm:
                base = sample("warm")
            self.wait_until(min(end, next_task, next_tick,
                                warm if base is None else end))
            if time.monotonic() >= next_tick:
                sample("tick")
                next_tick += 60
            self.assertTrue(a.running, a.log_tail())
        if base is None:
            base = sample("warm")
        last = sample("end")
        # Let the last tasks finish before judging the results.
        polled = bool(self.cp.requests("/api/agent/tasks"))
        if polled:
            self.cp.wait_for(lambda: all(t in self.cp.results
                                         for t in tasks), timeout=60,
                             what="every task result")
        beats = len(self.cp.requests("/api/agent/metrics"))
        usage = len(self.cp.requests("/api/agent/proxy-usage"))
        print("soak: %.0fs, %d heartbeats, %d usage reports, %d tasks "
              "(%s); rss %d -> %d KiB (start %d), fds %d -> %d" % (
                  SECONDS, beats, usage, len(tasks),
                  "all results in" if polled else "agent does not poll",
                  base[1], last[1], samples[0][1], base[2], last[2]),
              flush=True)
        self.assertEqual(a.stop(), 0)
        self.assertGreaterEqual(beats, SECONDS / 0.1 * 0.5)
        self.assertLessEqual(last[1] - base[1], RSS_TOLERANCE_KIB, samples)
        self.assertLessEqual(last[2] - base[2], FD_TOLERANCE, samples)
        self.assertEqual([r for r in self.cp.requests("/api/agent/*")
                          if r.status not in (200, 201, 204)], [])


if __name__ == "__main__":
    main()
