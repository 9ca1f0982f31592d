#!/usr/bin/env python3
"""The fault matrix (tests/README.md): for each way the control plane, the
network or the usage source can fail, the agent stays up and, once the
fault clears, heartbeats again.  Faults test_daemon.py and test_usage.py
already cover are not repeated here; the matrix names those tests.

Deadlines stretch by LATTICE_TEST_SLOW (default 4 when the agent runs
under LATTICE_AGENT_WRAPPER, e.g. valgrind, else 1)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Agent, AgentTestCase, ControlPlane, StatSource, \
    agent_bin, main  # noqa
from controlplane import nested_body, tasks_body_many  # noqa: E402

SLOW = float(os.environ.get("LATTICE_TEST_SLOW") or
             (4 if os.environ.get("LATTICE_AGENT_WRAPPER") else 1))
HELLO = "/api/agent/hello"
METRICS = "/api/agent/metrics"
USAGE = "/api/agent/proxy-usage"
SECRET = "usage-secret-f4u1t5"
TASKS = "/api/agent/tasks"
RESULT = "/api/agent/task-result"
IS_ROOT = os.geteuid() == 0
EXEC = ["-allow-exec"] + (["-allow-root-exec"] if IS_ROOT else [])
# valgrind virtualises rlimits: the sandboxed spawn fails under it, so a
# task ends as a failure instead of running (test_tasks.py says more).
# Tests here only need *a* result, except those marked `runs`.
UNDER_VALGRIND = "valgrind" in os.environ.get("LATTICE_AGENT_WRAPPER", "")
runs = unittest.skipIf(UNDER_VALGRIND, "sandboxed spawns fail under valgrind")


def t(seconds):
    """A deadline scaled for slow runs (valgrind)."""
    return seconds * SLOW


class FaultCase(AgentTestCase):

    def clean_beats(self):
        return [r for r in self.cp.requests(METRICS)
                if r.fault is None and r.status == 200]

    def assert_recovers(self, agent, beats=2, timeout=20):
        """Fault cleared: `beats` more clean heartbeats arrive and the agent
        is still the same process."""
        n = len(self.clean_beats())
        self.cp.wait_for(lambda: len(self.clean_beats()) >= n + beats,
                         timeout=t(timeout),
                         what="%d clean heartbeats after the fault" % beats)
        self.assertTrue(agent.running, agent.log_tail())


class ServerFaults(FaultCase):

    def test_server_dies_mid_request(self):
        # The heartbeat arrives, the server goes away before answering.
        a = self.start_agent(interval="300ms")
        self.cp.wait_requests(METRICS, 1, timeout=t(10))
        self.cp.fault(METRICS, "delay", count=1, seconds=60)
        self.cp.wait_for(lambda: any(r.fault == "delay" for r in
                                     self.cp.requests(METRICS)),
                         timeout=t(10), what="delayed heartbeat")
        self.cp.stop()
        a.wait_log(r"server unreachable", timeout=t(10))
        self.assertTrue(a.running)
        self.cp.restart()
        self.cp.wait_requests(HELLO, 2, timeout=t(20))
        self.assert_recovers(a)

    def test_connection_reset_and_dropped(self):
        # RST and a clean close without an answer, on hello and heartbeat.
        for kind in ("reset", "drop"):
            self.cp.fault(HELLO, kind, count=1)
            self.cp.fault(METRICS, kind, count=2)
        a = self.start_agent(interval="200ms")
        self.cp.wait_for(lambda: len([r for r in self.cp.requests(METRICS)
                                      if r.fault]) >= 4,
                         timeout=t(30), what="all injected faults hit")
        self.assert_recovers(a)
        self.assertTrue(any("server unreachable" in l
                            for l in a.log_lines()))

    def test_slow_server_past_the_timeout(self):
        # Requests to the server have a 30 s total timeout.
        a = self.start_agent(interval="300ms")
        self.cp.wait_requests(METRICS, 1, timeout=t(10))
        self.cp.fault(METRICS, "delay", count=1, seconds=45)
        a.wait_log(r"server unreachable.*(timeout|timed out)",
                   timeout=t(10) + 35)
        self.assertTrue(a.running)
        self.assert_recovers(a)

    def test_500_502_503_bursts(self):
        self.cp.fault(HELLO, "status", count=2, status=502)
        # Two each: the backoff doubles from the interval with full
        # jitter, so six in a row already allow up to 2^5 intervals.
        self.cp.fault(METRICS, "status", count=2, status=500)
        self.cp.fault(METRICS, "status", count=2, status=502)
        self.cp.fault(METRICS, "status", count=2, status=503)
        a = self.start_agent(interval="200ms")
        self.assert_recovers(a, timeout=60)
        failed = [r for r in self.cp.requests(METRICS) if r.fault]
        self.assertEqual(len(failed), 6)
        # Backing off: no two failed heartbeats closer than the interval.
        ts = [r.t_mono for r in failed]
        self.assertGreaterEqual(min(b - x for x, b in zip(ts, ts[1:])),
                                0.18, ts)

    def test_429_without_retry_after(self):
        self.cp.fault(METRICS, "status", count=2, status=429)
        a = self.start_agent(interval="200ms")
        self.assert_recovers(a, timeout=30)
        first, second = [r for r in self.cp.requests(METRICS) if r.fault]
        self.assertGreaterEqual(second.t_mono - first.t_mono, 0.18)
        a.wait_log(r"heartbeat not accepted.*429")

    def test_429_on_hello_with_retry_after(self):
        self.cp.fault(HELLO, "status", count=1, status=429, retry_after=2)
        a = self.start_agent(interval="200ms")
        hellos = self.cp.wait_requests(HELLO, 2, timeout=t(15))
        self.assertGreaterEqual(hellos[1].t_mono - hellos[0].t_mono, 1.9)
        self.assert_recovers(a)

    def test_401_mid_session_then_token_file_fixed_and_sighup(self):
        # The server rotates the token while the agent is online.
        tf = os.path.join(self.tmp, "token")
        with open(tf, "w") as f:
            f.write(self.token + "\n")
        args = ["-server", self.cp.url, "-node-id", self.node_id,
                "-token-file", tf, "-interval", "200ms",
                "-state-dir", os.path.join(self.tmp, "state")]
        a = self.start_agent(*args, default_args=False)
        self.cp.wait_requests(METRICS, 2, timeout=t(10))
        self.cp.set_token(self.node_id, "rotated-" + self.token)
        a.wait_log(r"refused the node token", timeout=t(10))
        n = len(self.cp.requests("/api/agent/*"))
        with open(tf, "w") as f:
            f.write("rotated-" + self.token + "\n")
        a.signal(signal.SIGHUP)
        self.assert_recovers(a)
        # While unauthorized it backed off: no hammering before SIGHUP.
        self.assertLessEqual(n, 8, self.cp.requests())

    def test_garbage_truncated_huge_answers_to_hello(self):
        # test_daemon covers these on heartbeats; hello has its own path.
        # (Garbage under a 200 is a success: hello's answer is not read.)
        self.cp.fault(HELLO, "truncate", count=1, body=b'{"ok":tr')
        self.cp.fault(HELLO, "huge", count=1)       # 4 MiB + 1
        self.cp.fault(HELLO, "garbage", count=1, status=503)
        a = self.start_agent(interval="200ms")
        self.cp.wait_requests(HELLO, 4, timeout=t(30))
        self.assert_recovers(a)
        self.assertEqual([r.fault for r in self.cp.requests(HELLO)],
                         ["truncate", "huge", "garbage", None])
        a.wait_log(r"too-large")

    def test_huge_is_4_mib_plus_one_and_4_mib_passes(self):
        # The cap is exact: 4 MiB of whitespace-padded JSON is read, one
        # byte more is refused as too large.
        body = b"{}" + b" " * (4 * 1024 * 1024 - 2)
        self.cp.fault(METRICS, "body", count=1, body=body)
        self.cp.fault(METRICS, "huge", count=1, size=4 * 1024 * 1024 + 1)
        a = self.start_agent("-debug", interval="200ms")
        self.cp.wait_for(lambda: len([r for r in self.cp.requests(METRICS)
                                      if r.fault]) >= 2,
                         timeout=t(15), what="both big answers")
        self.assert_recovers(a)
        big = [l for l in a.log_lines() if "heartbeat: too-large" in l]
        self.assertEqual(len(big), 1, big)

    def test_redirects_to_another_host_carry_no_token(self):
        other = ControlPlane(host="127.0.0.2") if _has_127_0_0_2() \
            else ControlPlane()
        self.addCleanup(other.close)
        other.start()
        for st in (301, 302, 303, 308):
            self.cp.fault(METRICS, "redirect", count=1, status=st,
                          location=other.url + "/")
        a = self.start_agent(interval="200ms")
        self.cp.wait_for(lambda: len([r for r in self.cp.requests(METRICS)
                                      if r.fault]) >= 4,
                         timeout=t(30), what="four redirects")
        self.assert_recovers(a)
        self.assertEqual(other.requests(), [])


def _has_127_0_0_2():
    import socket
    s = socket.socket()
    try:
        s.bind(("127.0.0.2", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


class TaskBase(FaultCase):

    def task(self, script="echo ok", **kw):
        return self.cp.enqueue_task(self.node_id, script=script, **kw)

    def result(self, tid, timeout=20):
        return self.cp.wait_for(lambda: self.cp.results.get(tid),
                                t(timeout), "result of %s" % tid)


class TaskFaults(TaskBase):
    """Faults on the task path (test_tasks.py:Delivery covers 500, 429,
    403, the server down after a task, SIGKILL mid-task and a result
    spooled across a restart).  Every leased task ends with exactly one
    accepted result."""

    def result_posts(self, tid):
        return [r for r in self.cp.requests(RESULT)
                if isinstance(r.json, dict) and
                (r.json.get("result") or {}).get("task_id") == tid]

    def test_tasks_endpoint_wrong_shapes(self):
        bodies = [
            "{}",                                   # object, not array
            '{"tasks": []}',
            '[1, "x", null, true, []]',             # wrong element types
            '[{"id": 5, "lease_id": [], "interpreter": 1, "script": {}}]',
            '[{"id": "t", "lease_id": "l", "timeout_sec": "9"}]',
            tasks_body_many(10000),                 # 10 000 tasks
            nested_body(10000),                     # depth 10 000
            '[' + '{"a":' * 10000 + '1' + '}' * 10000 + ']',
        ]
        for b in bodies:
            self.cp.fault(TASKS, "body", count=1, body=b)
        self.cp.fault(TASKS, "garbage", count=1)
        self.cp.fault(TASKS, "truncate", count=1)
        self.cp.fault(TASKS, "huge", count=1)
        self.cp.fault(TASKS, "status", count=1, status=500)
        tid = self.task("echo after")
        a = self.start_agent(*EXEC, interval="200ms")
        self.result(tid, timeout=90)
        faulted = [r for r in self.cp.requests(TASKS) if r.fault]
        self.assertEqual(len(faulted), len(bodies) + 4)
        self.assert_recovers(a)
        # The bulk leases the server never made are answered and refused
        # (403), not retried for ever; at most TASK_MAX_LEASES looked at.
        bulk = [r for r in self.cp.requests(RESULT)
                if b"bulk_" in (r.body or b"")]
        self.assertLessEqual(len(bulk), 100)
        self.assertEqual(self.cp.leased(self.node_id), [])

    def test_task_result_network_faults(self):
        # Answer lost after the server stored the result (process=True),
        # and lost before it did: one result either way, nothing retried
        # for ever.
        cases = [("reset", {"process": True}), ("drop", {}),
                 ("truncate", {"process": True, "body": b'{"ok":t'}),
                 ("garbage", {"status": 502}), ("huge", {"process": True}),
                 ("reset", {})]
        tids = []
        for kind, params in cases:
            self.cp.fault(RESULT, kind, count=1, **params)
        for i in range(len(cases)):
            tids.append(self.task("echo %d" % i))
        a = self.start_agent(*EXEC, interval="200ms")
        for tid in tids:
            self.result(tid, timeout=60)
        # Every answer lost after the store comes back as 403 on the retry
        # and is dropped, not retried again: the spool empties and no
        # result request follows.
        state = os.path.join(self.tmp, "state")
        self.cp.wait_for(lambda: len([r for r in self.cp.requests(RESULT)
                                      if r.fault]) == len(cases) and
                         not [f for f in os.listdir(state)
                              if f.startswith("result-")],
                         timeout=t(30), what="faults consumed, spool empty")
        n = len(self.cp.requests(RESULT))
        self.cp.wait_requests(TASKS, len(self.cp.requests(TASKS)) + 3,
                              timeout=t(10))
        self.assertEqual(len(self.cp.requests(RESULT)), n)
        self.assertEqual(self.cp.leased(self.node_id), [])
        self.assert_recovers(a)

    def test_task_result_slow_past_the_timeout(self):
        self.cp.fault(RESULT, "delay", count=1, seconds=40)
        tid = self.task("echo slow")
        a = self.start_agent(*EXEC, interval="300ms")
        a.wait_log(r"task result not delivered.*timeout", timeout=t(10) + 35)
        self.result(tid, timeout=30)
        self.assert_recovers(a)

    @runs
    def test_sigkill_while_queued_behind_a_running_task(self):
        # Concurrency 1: the second lease waits; SIGKILL; both answered.
        first = self.task("sleep 30", timeout_sec=60)
        second = self.task("echo second")
        a = self.start_agent(*EXEC, "-task-concurrency", "1")
        self.cp.wait_for(lambda: len(self.cp.leased(self.node_id)) == 2,
                         timeout=t(10), what="both leased")
        a.wait_log(r"task started", timeout=t(10))
        a.kill()
        a.wait_exit(5)
        self.start_agent(*EXEC, "-task-concurrency", "1")
        r1, r2 = self.result(first), self.result(second)
        results = {r1["task_id"]: r1, r2["task_id"]: r2}
        self.assertEqual(len(results), 2)
        for r in results.values():
            if r["exit_code"] == -1:
                self.assertIn("restart", r["error"])
        self.assertEqual(self.cp.leased(self.node_id), [])

    def test_sigkill_while_the_result_is_in_flight(self):
        # The server has the request but has not answered: kill.  On the
        # restart the spooled result is sent again; the server keeps one.
        self.cp.fault(RESULT, "delay", count=1, seconds=3)
        tid = self.task("echo inflight")
        a = self.start_agent(*EXEC)
        self.cp.wait_requests(RESULT, 1, done=False, timeout=t(15))
        a.kill()
        a.wait_exit(5)
        state = os.path.join(self.tmp, "state")
        self.assertTrue([f for f in os.listdir(state)
                         if f.startswith("result-")], os.listdir(state))
        b = self.start_agent(*EXEC)
        self.result(tid)
        self.cp.wait_for(lambda: not [f for f in os.listdir(state)
                                      if f.startswith("result-")],
                         timeout=t(20), what="an empty spool")
        self.assertEqual(self.cp.leased(self.node_id), [])
        self.assertTrue(b.running)

    @runs
    def test_sigkill_right_after_the_result_is_stored(self):
        # The server stored the result, the agent dies before reading the
        # answer: the retry after the restart is refused (403) and
        # dropped, the stored result stands.
        self.cp.fault(RESULT, "delay", count=1, seconds=2, process=True)
        tid = self.task("echo stored")
        a = self.start_agent(*EXEC)
        self.cp.wait_requests(RESULT, 1, done=False, timeout=t(15))
        a.kill()
        a.wait_exit(5)
        self.result(tid)
        b = self.start_agent(*EXEC)
        b.wait_log(r"task result dropped", timeout=t(15))
        self.assertEqual(self.cp.results[tid]["stdout"], "stored\n")
        self.assert_recovers(b)


def _in_private_mount(test, mount_opts, fill=False, extra=()):
    """Start the agent in a private mount namespace where the state dir is
    a fresh tmpfs mounted with mount_opts (root only)."""
    state = os.path.join(test.tmp, "state")
    os.makedirs(state, mode=0o700, exist_ok=True)
    script = ('mount -t tmpfs -o "$1" none "$0" || exit 97; '
              'if [ "$2" = fill ]; then cat /dev/zero > "$0/filler" '
              '2>/dev/null; fi; shift 2; exec "$@"')
    wrapper = os.environ.get("LATTICE_AGENT_WRAPPER", "").split()
    args = ["-m", "--propagation", "private", "sh", "-c", script, state,
            mount_opts, "fill" if fill else "-"] + wrapper + \
        [agent_bin()] + test.agent_args("200ms") + list(extra)
    saved = os.environ.pop("LATTICE_AGENT_WRAPPER", None)
    try:
        a = Agent(args, binary=shutil.which("unshare"),
                  env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                  workdir=os.path.join(test.tmp, "agent%d" %
                                       len(test._agents)))
    finally:
        if saved is not None:
            os.environ["LATTICE_AGENT_WRAPPER"] = saved
    test._agents.append(a)
    return a


@unittest.skipUnless(IS_ROOT and shutil.which("unshare"),
                     "needs root and unshare for a private tmpfs state dir")
class StateDirFaults(TaskBase):
    """The state directory read-only, full at start, and filling up while
    the agent runs (a small tmpfs in a private mount namespace): the agent
    says so once, keeps results in memory and still delivers them."""

    def check_delivered(self, a):
        tids = [self.task("echo %d" % i) for i in range(3)]
        for tid in tids:
            self.result(tid)
        self.assert_recovers(a)
        self.assertEqual(self.cp.leased(self.node_id), [])

    def test_read_only(self):
        a = _in_private_mount(self, "ro,mode=0700", extra=EXEC)
        a.wait_log(r"state directory .* unusable", timeout=t(10))
        self.check_delivered(a)

    def test_full_at_start(self):
        # The open probe writes an empty file, which a full tmpfs still
        # takes: the first real record is what fails.
        a = _in_private_mount(self, "size=64k,mode=0700", fill=True,
                              extra=EXEC)
        self.check_delivered(a)
        a.wait_log(r"unusable|spool full|cannot spool", timeout=t(5))

    def test_fills_up_while_running(self):
        a = _in_private_mount(self, "size=256k,mode=0700", extra=EXEC)
        self.cp.wait_requests(TASKS, 1, timeout=t(10))
        self.assertFalse(any("unusable" in l for l in a.log_lines()))
        # Fill it from outside through the agent's own view of the mount.
        state = "/proc/%d/root%s" % (a.pid, os.path.join(self.tmp, "state"))
        with open(os.path.join(state, "filler"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        self.check_delivered(a)
        a.wait_log(r"spool full|cannot spool", timeout=t(5))


@unittest.skipUnless(IS_ROOT and shutil.which("unshare"),
                     "needs root and unshare for a journal socket of ours")
class JournalFaults(FaultCase):
    """journald stalled: its socket queue is full and nobody reads it.
    Logging must not block the event loop: heartbeats go on (the lines
    fall back to stderr)."""

    def test_stalled_journal_does_not_block(self):
        import socket
        jdir = os.path.join(self.tmp, "journal")
        os.makedirs(jdir)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(os.path.join(jdir, "socket"))     # never read
        self.addCleanup(sock.close)
        script = ('mount -t tmpfs none /run/systemd 2>/dev/null || '
                  'mount -t tmpfs none /run; mkdir -p /run/systemd/journal '
                  '&& mount --bind "$0" /run/systemd/journal && exec "$@"')
        wrapper = os.environ.get("LATTICE_AGENT_WRAPPER", "").split()
        args = ["-m", "--propagation", "private", "sh", "-c", script,
                jdir] + wrapper + [agent_bin()] + \
            self.agent_args("100ms") + ["-debug", "-log-format", "journal"]
        os.makedirs(os.path.join(self.tmp, "state"), exist_ok=True)
        saved = os.environ.pop("LATTICE_AGENT_WRAPPER", None)
        try:
            a = Agent(args, binary=shutil.which("unshare"),
                      env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                      workdir=os.path.join(self.tmp, "agent-journal"))
        finally:
            if saved is not None:
                os.environ["LATTICE_AGENT_WRAPPER"] = saved
        self._agents.append(a)
        # Far more debug lines than the socket queue holds.
        self.cp.wait_requests(METRICS, 30, timeout=t(15))
        self.assertEqual(a.stop(), 0)


class TLSFaults(AgentTestCase):
    """Expired and wrong-host certificates (test_daemon covers untrusted):
    nothing is sent, the agent waits, and once the server presents a good
    certificate it says hello."""

    def check_variant(self, variant):
        cp = ControlPlane(tls=variant, rate_limit=False)
        self.addCleanup(cp.close)
        cp.start()
        cp.add_node(self.node_id, self.token)
        self.cp = cp
        a = self.start_agent(interval="200ms")
        a.wait_log(r"server unreachable", timeout=t(15))
        cp.wait_for(lambda: cp.refused_connections(), timeout=t(10),
                    what="refused TLS connection")
        self.assertEqual(cp.requests(), [])
        # The fault clears: the next connection gets a good certificate.
        cp._ssl_ctx = cp.tls_material.server_context("ok")
        cp.wait_requests(HELLO, 1, status=200, timeout=t(30))
        cp.wait_requests(METRICS, 2, status=200, timeout=t(10))
        self.assertTrue(a.running)
        self.assertEqual(a.stop(), 0)

    def test_expired_certificate(self):
        self.check_variant("expired")

    def test_wrong_host_certificate(self):
        self.check_variant("wrong-host")

    def test_untrusted_then_fixed(self):
        self.check_variant("untrusted")


class UsageFaults(FaultCase):
    """The usage source failing in the ways test_usage does not already
    show: each becomes an error snapshot, heartbeats never stop, and the
    next good read is reported ok."""

    def source(self, **kw):
        src = StatSource(secret=SECRET, **kw)
        src.start()
        self.addCleanup(src.close)
        src.set_lattice({"alice": 1})
        return src

    def snapshots(self):
        return [r.json["snapshot"] for r in self.cp.requests(USAGE)
                if r.json is not None]

    def run_faults(self, src, cases):
        a = self.start_agent("-proxy-usage-url", src.url_for(),
                             "-proxy-usage-secret", SECRET,
                             "-proxy-usage-timeout", "2s", interval="200ms")
        self.cp.wait_for(lambda: any(s["collector_status"] == "ok"
                                     for s in self.snapshots()),
                         timeout=t(10), what="first ok snapshot")
        for kind, params in cases:
            with self.subTest(kind=kind, params=params):
                n = len(self.snapshots())
                params = dict(params)
                src.fault("/stats", kind, count=params.pop("count", 1),
                          **params)
                err = self.cp.wait_for(
                    lambda: next((s for s in self.snapshots()[n:]
                                  if s["collector_status"] == "error"),
                                 None), timeout=t(15), what=kind)
                self.assertNotIn("user_bytes", err)
                self.assertTrue(err["collector_error"])
                self.assertLessEqual(len(err["collector_error"].encode()),
                                     256)
                m = len(self.snapshots())
                self.cp.wait_for(
                    lambda: any(s["collector_status"] == "ok"
                                for s in self.snapshots()[m:]),
                    timeout=t(15), what="ok snapshot after " + kind)
        self.assert_recovers(a)
        for r in self.cp.requests():
            self.assertNotIn(SECRET.encode(), r.body or b"")

    def test_network_faults(self):
        src = self.source()
        self.run_faults(src, [
            # count 2: curl rightly retries a request once when a reused
            # connection turns out closed; the second failure is real.
            ("drop", {"count": 2}), ("reset", {"count": 2}),
            ("truncate", {"body": b'{"user_bytes":{"a'}),
            ("delay", {"seconds": 5}),          # past -proxy-usage-timeout
            ("huge", {"size": 4 * 1024 * 1024 + 1}),
        ])

    def test_statuses(self):
        src = self.source()
        self.run_faults(src, [
            ("status", {"status": 429, "retry_after": 1}),
            ("status", {"status": 429}),
            ("status", {"status": 502}), ("status", {"status": 503}),
        ])

    def test_wrong_shapes(self):
        src = self.source()
        self.run_faults(src, [
            ("body", {"body": "[]"}),
            ("body", {"body": '"a string"'}),
            ("body", {"body": '{"user_bytes": [1, 2]}'}),
            ("body", {"body": '{"user_bytes": {"alice": "many"}}'}),
            ("body", {"body": '{"user_bytes": {"alice": -1}}'}),
            ("body", {"body": '{"user_bytes": {"alice": 1e400}}'}),
            ("body", {"body": '{"stat": {"name": 1}}'}),
            ("body", {"body": "[" * 10000 + "]" * 10000}),
            ("body", {"body": '{"user_bytes":' * 10000 + "{}" +
                      "}" * 10000}),
        ])

    def test_many_users_is_bounded(self):
        # 10 000 users: more than the server keeps (4096); the agent must
        # neither crash nor send what the server would refuse.
        src = self.source()
        src.set_lattice({"u%d" % i: i for i in range(10000)})
        a = self.start_agent("-proxy-usage-url", src.url_for(),
                             "-proxy-usage-secret", SECRET,
                             interval="300ms")
        self.cp.wait_requests(USAGE, 2, timeout=t(15))
        for r in self.cp.requests(USAGE):
            self.assertIn(r.status, (200,), r)
        self.assert_recovers(a)

    def tls_source(self, variant):
        src = StatSource(secret=SECRET, tls=variant)
        src.start()
        self.addCleanup(src.close)
        src.set_lattice({"alice": 1})
        return src

    def test_tls_source_faults(self):
        # A loopback https source presenting a bad certificate.
        for variant in ("untrusted", "expired", "wrong-host"):
            with self.subTest(variant=variant):
                src = self.tls_source(variant)
                n = len(self.snapshots())
                a = self.start_agent(
                    "-proxy-usage-url", src.url_for(),
                    "-proxy-usage-secret", SECRET,
                    "-ca-file", src.ca_file, interval="300ms")
                snap = self.cp.wait_for(
                    lambda: next((s for s in self.snapshots()[n:]
                                  if s["collector_status"] == "error"),
                                 None), timeout=t(15),
                    what="error snapshot for " + variant)
                self.assertEqual(src.requests(), [])
                self.assertTrue(snap["collector_error"])
                self.assertTrue(a.running)
                self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    main()
