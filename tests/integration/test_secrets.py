#!/usr/bin/env python3
"""Secrets never leak: the node token and the usage secret, both given on
the command line (the worst case), with -debug, must not appear in any log
line (logfmt, json, journal and its stderr fallback), in any request the
control plane or the stats source received except the Authorization header
meant for it, in /proc/<pid>/cmdline, in stdout, or in any file the agent
left in the state directory; in daemon, -once, --collect and
--selfcheck-controlplane modes."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Agent, AgentTestCase, StatSource, agent_bin, main  # noqa

SECRET = "usage-Secret-8d1f0c2b7a"
SLOW = float(os.environ.get("LATTICE_TEST_SLOW") or
             (4 if os.environ.get("LATTICE_AGENT_WRAPPER") else 1))
FORMATS = ("logfmt", "json", "journal")
EXEC = ["-allow-exec"] + (["-allow-root-exec"] if os.geteuid() == 0 else [])
# What a task sees: its environment, argv of its parent chain and its fds.
PEEK = ("env; for p in /proc/self /proc/$PPID; do tr '\\0' ' ' "
        "< $p/cmdline; echo; done; ls -l /proc/self/fd")


class Secrets(AgentTestCase):
    # A token that starts with '-', as one in 64 real ones do.
    token = "-Tok3n-secret-0123456789abcdefXYZ"

    def setUp(self):
        super().setUp()
        self.src = StatSource(secret=SECRET)
        self.src.start()
        self.addCleanup(self.src.close)
        self.src.set_lattice({"alice": 5})
        self.state = os.path.join(self.tmp, "state")

    def needles(self):
        return [(self.token, "node token"), (SECRET, "usage secret")]

    def assert_clean(self, what, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        for needle, name in self.needles():
            self.assertNotIn(needle.encode(), data,
                             "%s found in %s" % (name, what))

    def check_requests(self, server, expect_auth):
        for r in server.requests():
            self.assert_clean("request line %s" % r.path,
                              r.path + "?" + (r.query_string or ""))
            self.assert_clean("body of %s" % r.path, r.body or b"")
            for k, v in r.header_list:
                if k == "authorization":
                    self.assertEqual(v, expect_auth,
                                     "Authorization on %s" % r.path)
                    continue
                self.assert_clean("header %s of %s" % (k, r.path), v)

    def check_state_dir(self):
        for root, dirs, files in os.walk(self.state):
            for name in files:
                p = os.path.join(root, name)
                with open(p, "rb") as f:
                    self.assert_clean("state file " + p, f.read())

    def check_cmdline(self, pid):
        if os.environ.get("LATTICE_AGENT_WRAPPER"):
            return      # /proc shows the wrapper's argv, not the agent's
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                self.assert_clean("/proc/%d/cmdline" % pid, f.read())
        except FileNotFoundError:
            pass

    def usage_args(self):
        return ["-proxy-usage-url", self.src.url_for(),
                "-proxy-usage-secret", SECRET]

    def check_agent(self, a, journal=None):
        self.assert_clean("log (%s)" % a.stderr_path, a.log_text())
        self.assert_clean("stdout", a.stdout_text())
        if journal is not None:
            self.assert_clean("journal datagrams", journal)
        self.check_requests(self.cp, "Bearer " + self.token)
        self.check_requests(self.src, "Bearer " + SECRET)
        self.check_state_dir()

    # --- daemon ---------------------------------------------------------

    def test_daemon_every_log_format(self):
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                n = len(self.cp.requests("/api/agent/proxy-usage"))
                tid = self.cp.enqueue_task(self.node_id, script=PEEK)
                a = self.start_agent("-debug", "-log-format", fmt, *EXEC,
                                     *self.usage_args(), interval="200ms")
                self.cp.wait_requests("/api/agent/proxy-usage", n + 2,
                                      timeout=10 * SLOW)
                # The task's result (its env, cmdlines, fds) went out.
                self.cp.wait_for(lambda: tid in self.cp.results,
                                 timeout=15 * SLOW, what="task result")
                self.check_cmdline(a.pid)
                self.assertEqual(a.stop(), 0)
                self.assertTrue(a.log_text(), "no log at all")
                self.assertIn("/api/agent/hello", a.log_text())
                self.check_agent(a)

    def test_daemon_after_faults_and_sighup(self):
        # Error paths log more: 401, 500 with a body echoing nothing, a
        # failing source, and a SIGHUP re-reading the secrets.
        self.cp.fault("/api/agent/metrics", "status", count=2, status=500)
        self.src.fault("/stats", "status", count=2, status=401)
        a = self.start_agent("-debug", *self.usage_args(), interval="200ms")
        self.cp.wait_requests("/api/agent/metrics", 4, timeout=15 * SLOW)
        a.signal(1)     # SIGHUP
        a.wait_log(r"SIGHUP", timeout=5 * SLOW)
        self.cp.wait_requests("/api/agent/proxy-usage", 4, timeout=15 * SLOW)
        self.check_cmdline(a.pid)
        self.assertEqual(a.stop(), 0)
        self.check_agent(a)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"),
                         "needs root and unshare to give the agent a "
                         "journal socket of ours")
    def test_daemon_native_journal(self):
        # A private mount namespace where /run/systemd/journal/socket is a
        # datagram socket this test reads.
        jdir = os.path.join(self.tmp, "journal")
        os.makedirs(jdir)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(os.path.join(jdir, "socket"))
        self.addCleanup(sock.close)
        sock.settimeout(0.2)
        # Read as they come: a full socket queue would block the agent's
        # sendto (net.unix.max_dgram_qlen is small).
        grams, done = [], threading.Event()

        def reader():
            while not done.is_set():
                try:
                    grams.append(sock.recv(65536))
                except socket.timeout:
                    pass
                except OSError:
                    return
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        st = os.fstat(2)
        env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)}
        script = ('mount -t tmpfs none /run/systemd 2>/dev/null || '
                  'mount -t tmpfs none /run; mkdir -p /run/systemd/journal '
                  '&& mount --bind "$0" /run/systemd/journal && exec "$@"')
        wrapper = os.environ.get("LATTICE_AGENT_WRAPPER", "").split()
        args = ["-m", "--propagation", "private", "sh", "-c", script, jdir] \
            + wrapper + [agent_bin()] + self.agent_args("200ms") + \
            ["-debug", "-log-format", "journal"] + self.usage_args()
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        env_keep = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        env_keep.update(env)
        saved = os.environ.pop("LATTICE_AGENT_WRAPPER", None)
        try:
            a = Agent(args, env=env_keep, binary=shutil.which("unshare"),
                      workdir=os.path.join(self.tmp, "journal-agent"))
        finally:
            if saved is not None:
                os.environ["LATTICE_AGENT_WRAPPER"] = saved
        self._agents.append(a)
        self.cp.wait_requests("/api/agent/proxy-usage", 2, timeout=10 * SLOW)
        self.check_cmdline(a.pid)
        self.assertEqual(a.stop(), 0)
        done.set()
        th.join(5)
        self.assertTrue(grams, "no journal datagram; log:\n" + a.log_tail())
        blob = b"\n".join(grams)
        self.assertIn(b"SYSLOG_IDENTIFIER=lattice-agent", blob)
        self.assertIn(b"/api/agent/hello", blob)
        self.check_agent(a, journal=blob)

    # --- one-shot modes -------------------------------------------------

    def test_once_every_log_format(self):
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                a = self.start_agent("-once", "-debug", "-log-format", fmt,
                                     *self.usage_args())
                self.assertEqual(a.wait_exit(20 * SLOW), 0, a.log_tail())
                self.assertIn("/api/agent/hello", a.log_text())
                self.check_agent(a)
        self.assertEqual(len(self.cp.requests("/api/agent/hello")), 3)

    def test_collect_every_log_format(self):
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                a = self.start_agent("--collect", "-debug", "-log-format",
                                     fmt, *self.usage_args())
                self.assertEqual(a.wait_exit(20 * SLOW), 0, a.log_tail())
                self.assertIn("user_bytes", a.stdout_text())
                self.check_agent(a)
        self.assertEqual(self.cp.requests(), [])
        self.assertGreaterEqual(len(self.src.requests()), 3)

    def test_selfcheck_every_log_format(self):
        for fmt in FORMATS:
            with self.subTest(format=fmt):
                a = self.start_agent("--selfcheck-controlplane", "-debug",
                                     "-log-format", fmt,
                                     *self.usage_args())
                self.assertEqual(a.wait_exit(20 * SLOW), 0, a.log_tail())
                self.check_agent(a)
        # The firewall modes neither read nor send the token.
        self.assertTrue(self.cp.requests())
        for r in self.cp.requests():
            self.assertIsNone(r.auth, r)

    def test_token_and_secret_from_files_and_env(self):
        tf = os.path.join(self.tmp, "token")
        sf = os.path.join(self.tmp, "secret")
        for p, v in ((tf, self.token), (sf, SECRET)):
            with open(p, "w") as f:
                f.write(v + "\n")
        for how in ("file", "env"):
            with self.subTest(source=how):
                args = ["-server", self.cp.url, "-node-id", self.node_id,
                        "-interval", "200ms", "-state-dir", self.state,
                        "-debug", "-proxy-usage-url", self.src.url_for()]
                env = {}
                if how == "file":
                    args += ["-token-file", tf,
                             "-proxy-usage-secret-file", sf]
                else:
                    env = {"LATTICE_NODE_TOKEN": self.token,
                           "LATTICE_PROXY_USAGE_SECRET": SECRET}
                n = len(self.cp.requests("/api/agent/proxy-usage"))
                a = self.start_agent(*args, default_args=False, env=env)
                self.cp.wait_requests("/api/agent/proxy-usage", n + 2,
                                      timeout=10 * SLOW)
                self.check_cmdline(a.pid)
                self.assertEqual(a.stop(), 0)
                self.check_agent(a)


if __name__ == "__main__":
    main()
