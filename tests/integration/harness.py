"""Integration-test harness: the real lattice-agent against the test control
plane on loopback.

  * agent_bin(): the binary under test, from $LATTICE_AGENT_BIN (meson sets
    it), else build/src/lattice-agent beside the source tree.
    $LATTICE_AGENT_WRAPPER (e.g. "valgrind --error-exitcode=1 -q") is put in
    front of every agent command line; valgrind keeps the agent's PID.
  * Agent: one agent process we started (stderr to a file, stdout captured
    to another).  Only ever signals or kills its own PID.
  * AgentTestCase: unittest base class with a fresh ControlPlane and a
    registered node per test, start_agent(), and a tearDown that kills every
    agent the test started, even when the test failed.

Every wait has a deadline; none is a bare sleep.  Waits on the agent's log
file re-check on a short interval bounded by the deadline (it is a file);
waits on the server use the control plane's condition variable.
"""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "controlplane"))

from controlplane import ControlPlane  # noqa: E402,F401
from statsource import StatSource  # noqa: E402,F401

LOG_POLL = 0.02     # seconds between re-reads of an agent's log file


def agent_bin():
    """Path of the agent binary under test."""
    p = os.environ.get("LATTICE_AGENT_BIN")
    if not p:
        p = os.path.join(TOP, "build", "src", "lattice-agent")
    if not os.access(p, os.X_OK):
        raise unittest.SkipTest("agent binary not found at %s (set "
                                "LATTICE_AGENT_BIN)" % p)
    return p


class Agent:
    """One agent process started by a test."""

    def __init__(self, args, env=None, workdir=None, clean_env=True,
                 stdin=subprocess.DEVNULL, binary=None):
        wrapper = shlex.split(os.environ.get("LATTICE_AGENT_WRAPPER", ""))
        self.args = wrapper + [binary or agent_bin()] + \
            [str(a) for a in args]
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="lattice-agent-")
        os.makedirs(self.workdir, exist_ok=True)
        self.stderr_path = os.path.join(self.workdir, "agent.stderr")
        self.stdout_path = os.path.join(self.workdir, "agent.stdout")
        base = {} if clean_env else dict(os.environ)
        if clean_env:
            for k in ("PATH", "HOME", "LANG", "TMPDIR", "ASAN_OPTIONS",
                      "UBSAN_OPTIONS", "LSAN_OPTIONS", "VALGRIND_OPTS"):
                if k in os.environ:
                    base[k] = os.environ[k]
        base.update(env or {})
        self.env = base
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(self.args, env=self.env, stdin=stdin,
                                     stdout=self._out, stderr=self._err,
                                     cwd=self.workdir, close_fds=True)
        self.pid = self.proc.pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            self.returncode = self.proc.poll()
        return self.returncode

    @property
    def running(self):
        return self.poll() is None

    def wait_exit(self, timeout=10):
        """Wait for the process to exit; return its status (negative:
        killed by that signal).  AssertionError on timeout."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("agent pid %d still running after %.1fs; "
                                 "log tail:\n%s" % (self.pid, timeout,
                                                    self.log_tail()))
        self._close_files()
        return self.returncode

    def signal(self, sig):
        if self.poll() is None:
            self.proc.send_signal(sig)

    def terminate(self):
        self.signal(signal.SIGTERM)

    def kill(self):
        self.signal(signal.SIGKILL)

    def stop(self, timeout=10):
        """SIGTERM, wait; SIGKILL if it does not exit in time.  Returns the
        exit status."""
        self.terminate()
        try:
            return self.wait_exit(timeout)
        except AssertionError:
            self.kill()
            self.wait_exit(5)
            raise

    def cleanup(self, remove=False):
        """Make sure our process is gone (by PID only); with remove, also
        delete the work dir if we created it."""
        if self.poll() is None:
            self.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._close_files()
        if remove and self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _close_files(self):
        for f in (self._err, self._out):
            if not f.closed:
                f.close()

    def log_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        return self.log_text().splitlines()

    def stdout_text(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, n=30):
        try:
            return "\n".join(self.log_lines()[-n:])
        except OSError:
            return "(no log)"

    def wait_log(self, regex, timeout=10, after=0):
        """Wait until a log line (index >= after) matches regex; return the
        match.  Fails early if the agent exits first."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log_lines()
            for line in lines[after:]:
                m = rx.search(line)
                if m:
                    return m
            if self.poll() is not None:
                lines = self.log_lines()
                for line in lines[after:]:
                    m = rx.search(line)
                    if m:
                        return m
                raise AssertionError(
                    "agent exited (%s) before logging /%s/; log tail:\n%s"
                    % (self.returncode, regex, self.log_tail()))
            if time.monotonic() >= deadline:
                raise AssertionError("no log line matching /%s/ within "
                                     "%.1fs; log tail:\n%s" %
                                     (regex, timeout, self.log_tail()))
            time.sleep(LOG_POLL)


def run_agent(args, env=None, timeout=10, clean_env=True):
    """Run a one-shot agent to completion; return (status, stdout, stderr)."""
    a = Agent(args, env=env, clean_env=clean_env)
    try:
        rc = a.wait_exit(timeout)
        return rc, a.stdout_text(), a.log_text()
    finally:
        a.cleanup(remove=True)


class AgentTestCase(unittest.TestCase):
    """Base class: self.cp is a started ControlPlane (no rate limit) with
    node self.node_id / self.token; start_agent() launches the binary
    pointed at it.  Subclasses may set cp_kwargs (e.g. {'tls': 'ok'})."""

    node_id = "test-node"
    token = "tok-Zq3-test-0123456789abcdef"
    cp_kwargs = {}

    def setUp(self):
        self._agents = []
        self.cp = ControlPlane(**dict({"rate_limit": False},
                                      **self.cp_kwargs))
        self.addCleanup(self.cp.close)
        self.cp.start()
        self.cp.add_node(self.node_id, self.token)
        self.tmp = tempfile.mkdtemp(prefix="lattice-it-")
        self.addCleanup(self._cleanup_agents)

    def _cleanup_agents(self):
        for a in self._agents:
            a.cleanup()
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not getattr(outcome, "success",
                                                     True)
        if failed or os.environ.get("LATTICE_TEST_VERBOSE"):
            for a in self._agents:
                sys.stderr.write("--- agent pid %d log tail (%s) ---\n%s\n"
                                 % (a.pid, a.stderr_path, a.log_tail()))
        if not failed and not os.environ.get("LATTICE_TEST_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def agent_args(self, interval="1s"):
        """The default daemon arguments for this test's server and node."""
        args = ["-server", self.cp.url, "-node-id", self.node_id,
                "-token", self.token, "-interval", interval,
                "-state-dir", os.path.join(self.tmp, "state")]
        if self.cp.ca_file:
            args += ["-ca-file", self.cp.ca_file]
        return args

    def start_agent(self, *extra_args, env=None, default_args=True,
                    interval="1s", clean_env=True):
        args = (self.agent_args(interval) if default_args else []) + \
            list(extra_args)
        os.makedirs(os.path.join(self.tmp, "state"), mode=0o700,
                    exist_ok=True)
        a = Agent(args, env=env, clean_env=clean_env,
                  workdir=os.path.join(self.tmp, "agent%d" %
                                       len(self._agents)))
        self._agents.append(a)
        return a


def main():
    """unittest.main with a non-zero exit status on failure."""
    unittest.main(verbosity=int(os.environ.get("LATTICE_TEST_VERBOSITY",
                                               "2")))


__all__ = ["Agent", "AgentTestCase", "ControlPlane", "StatSource",
           "agent_bin", "main", "run_agent"]
