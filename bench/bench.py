#!/usr/bin/env python3
"""Benchmarks of lattice-agent against the test control plane on loopback.

Measures the nine items of the benchmark issue (memory, CPU per cycle,
wakeups, bytes on the wire, task drain, heartbeat continuity, one-shot
latency, binary size, fleet shape) plus the cost of Debian's libcurl, and
prints one Markdown table; with --write it also replaces the generated part
of BENCHMARKS.md.  Called by bench/run.sh, which builds the release binary.

Speed-independent counts are preferred (instructions from callgrind, bytes,
context switches, private memory); timings are medians of several runs.
Every process is one we started and is stopped by its PID; every wait is
bounded in time.  Nothing leaves loopback.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "controlplane"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, HERE)

from controlplane import ControlPlane, TLSMaterial  # noqa: E402
from harness import Agent  # noqa: E402
import procstat  # noqa: E402

NODE = "bench-node-01"
# 32 random bytes in base64url, the shape of a real node token.
TOKEN = "Zq3kR7v_x1bN0pL5mW2cT8yH4uJ6sD9fA-eG3iK0oQ1"
KIB = 1024.0
MIB = 1024.0 * 1024.0

ITEMS = {
    "idle": (1, 3, 4),      # long runs at 10 s and 1 s, http and TLS
    "cycles": (1, 2),       # 1 000 heartbeats at 100 ms
    "callgrind": (2,),      # instructions per cycle
    "bytes": (4,),          # wire bytes with and without facts
    "tasks": (5, 6),        # drain and continuity (needs task.c)
    "oneshot": (7,),        # selfcheck, --collect, libraries
    "size": (8,),
    "fleet": (9,),
}


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_mib(kib):
    return "—" if kib is None else "%.1f MiB" % (kib / KIB)


def fmt(x, spec="%.0f", unit=""):
    return "—" if x is None else (spec % x) + unit


# --- the world: binary, control planes, agents ---------------------------

class World:
    def __init__(self, binary, tmp, quick):
        self.bin = binary
        self.tmp = tmp
        self.quick = quick
        self._n = 0
        self._lock = threading.Lock()
        self.tls_dir = os.path.join(tmp, "tls")

    def dir(self, what):
        with self._lock:
            self._n += 1
            d = os.path.join(self.tmp, "%s-%d" % (what, self._n))
        os.makedirs(d, mode=0o700)
        return d

    def cp(self, tls=False):
        # One CA for the whole run (tls_dir), so every https agent trusts it.
        with self._lock:    # the cert files are (re)written per server
            cp = ControlPlane(tls="ok" if tls else None,
                              tls_dir=self.tls_dir if tls else None,
                              rate_limit=False)
        cp.start()
        cp.add_node(NODE, TOKEN)
        return cp

    def agent_args(self, cp, wd, interval=None, extra=(), node=NODE,
                   token=TOKEN):
        sd = os.path.join(wd, "state")
        os.makedirs(sd, mode=0o700, exist_ok=True)
        args = ["-server", cp.url, "-node-id", node, "-token", token,
                "-state-dir", sd]
        if interval:
            args += ["-interval", interval]
        if cp.ca_file:
            args += ["-ca-file", cp.ca_file]
        return args + list(extra)

    def agent(self, cp, interval=None, extra=(), wrapper=None, what="agent",
              node=NODE, token=TOKEN):
        wd = self.dir(what)
        args = self.agent_args(cp, wd, interval, extra, node, token)
        if wrapper:
            # Agent() puts $LATTICE_AGENT_WRAPPER in front; do it by hand.
            a = Agent(list(wrapper[1:]) + [self.bin] + args,
                      binary=wrapper[0], workdir=wd)
        else:
            a = Agent(args, binary=self.bin, workdir=wd)
        return a

    def task_support(self):
        """Does this binary poll for tasks?  A short run at 100 ms."""
        cp = self.cp(False)
        a = self.agent(cp, interval="100ms", what="probe",
                       extra=["-allow-exec", "-allow-root-exec"])
        try:
            cp.wait_requests("/api/agent/metrics", 5, timeout=30)
            return len(cp.requests("/api/agent/tasks")) > 0
        finally:
            stop_agent(a)
            cp.close()


def sleep_until(t, agents=()):
    """Sleep until monotonic time t, failing early if an agent died."""
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        for a in agents:
            if not a.running:
                raise RuntimeError("agent pid %d exited (%s); log tail:\n%s"
                                   % (a.pid, a.returncode, a.log_tail()))
        time.sleep(min(left, 0.5))


def stop_agent(a):
    try:
        a.stop(10)
    except AssertionError:
        pass
    a.cleanup()


def wire_bytes(reqs):
    return [r.wire_bytes for r in reqs if r.wire_bytes]


# --- item 1, 3, 4: long idle runs ----------------------------------------

def idle_run(w, label, interval, tls, duration, mem_at=60.0, usage=False):
    """An agent at `interval` for `duration` seconds of heartbeats: memory
    after mem_at seconds and at the end, context switches and requests per
    minute, connections used.  With usage, a -proxy-usage-file too."""
    cp = w.cp(tls)
    extra = []
    if usage:
        path = os.path.join(w.dir("idleusage"), "usage.json")
        with open(path, "w") as f:
            json.dump({"core_uptime_sec": 100,
                       "user_bytes": {"alice": 1048576, "bob": 2097152}}, f)
        extra = ["-proxy-usage-file", path]
    a = w.agent(cp, interval=interval, what="idle", extra=extra)
    ival = 10.0 if interval is None else parse_dur(interval)
    try:
        first = cp.wait_requests("/api/agent/metrics", 1,
                                 timeout=ival * 2 + 20)[0]
        t0 = time.monotonic()
        ctx0 = procstat.ctx_switches(a.pid)
        cpu0 = procstat.cpu(a.pid)
        n0 = len(cp.requests("/api/agent/*"))
        sleep_until(t0 + min(mem_at, duration), [a])
        mem1 = procstat.memory(a.pid)
        smaps = procstat.smaps_by_file(a.pid)
        sleep_until(t0 + duration, [a])
        t1 = time.monotonic()
        mem2 = procstat.memory(a.pid)
        ctx1 = procstat.ctx_switches(a.pid)
        cpu1 = procstat.cpu(a.pid)
        reqs = cp.requests("/api/agent/*")
        n1 = len(reqs)
        nthreads = len(procstat.threads(a.pid))
    finally:
        stop_agent(a)
        cp.close()
    minutes = (t1 - t0) / 60.0
    beats = [r for r in reqs if r.path == "/api/agent/metrics"]
    spans = {}
    for r in beats:
        s = spans.setdefault(r.conn_id, [r.t_mono, r.t_mono])
        s[1] = r.t_mono
    conns = sorted({r.conn_id for r in reqs})
    # For every connection after the first: what was its first request,
    # and how far (ms) was the nearest request on another connection?
    extra = []
    for c in conns[1:]:
        r = [x for x in reqs if x.conn_id == c][0]
        near = min((abs(x.t_mono - r.t_mono), x) for x in reqs
                   if x.conn_id != c) if len(conns) > 1 else (None, None)
        extra.append("%s at %.0f s, %.0f ms from %s" % (
            r.path.rsplit("/", 1)[1], r.t_mono - t0, near[0] * 1000,
            near[1].path.rsplit("/", 1)[1].split("?")[0]))
    return {
        "extra_conns": extra,
        "label": label, "interval": ival, "tls": tls,
        "seconds": t1 - t0, "mem_at": min(mem_at, duration),
        "mem1": mem1, "mem2": mem2, "smaps": smaps,
        "ctx_per_min": ((ctx1[0] - ctx0[0]) + (ctx1[1] - ctx0[1])) /
        minutes,
        "vol_per_min": (ctx1[0] - ctx0[0]) / minutes,
        "invol_per_min": (ctx1[1] - ctx0[1]) / minutes,
        "cpu_ms_per_min": (cpu1["ns"] - cpu0["ns"]) / 1e6 / minutes,
        "cpu_ms_per_beat": (cpu1["ns"] - cpu0["ns"]) / 1e6 /
        max(1, len([r for r in reqs[n0:] if r.path ==
                    "/api/agent/metrics"])),
        "req_per_min": (n1 - n0) / minutes,
        "paths": sorted({r.path for r in reqs}),
        "connections": len(conns),
        "longest_conn_min": max((e - s for s, e in spans.values()),
                                default=0) / 60.0,
        "first_beat_conn": first.conn_id, "beats": len(beats),
        "threads": nthreads,
    }


def parse_dur(s):
    m = re.fullmatch(r"(\d+)(ms|s|m)", s)
    n = int(m.group(1))
    return n / 1000.0 if m.group(2) == "ms" else n * (60 if m.group(2) ==
                                                       "m" else 1)


# --- items 1 and 2: 1 000 heartbeats at 100 ms ---------------------------

def cycle_run(w, tls, n):
    """An agent at -interval 100ms with usage and task polling on: CPU per
    cycle between heartbeat 10 and 10+n, memory at 10, 110 and 10+n."""
    cp = w.cp(tls)
    wd = w.dir("usage")
    usage = os.path.join(wd, "usage.json")
    with open(usage, "w") as f:
        json.dump({"core_uptime_sec": 100,
                   "user_bytes": {"alice": 1048576, "bob": 2097152}}, f)
    a = w.agent(cp, interval="100ms", what="cycles",
                extra=["-proxy-usage-file", usage, "-allow-exec",
                       "-allow-root-exec"])
    path = "/api/agent/metrics"
    try:
        cp.wait_requests(path, 10, timeout=30)
        n0 = len(cp.requests(path))
        c0, m0 = procstat.cpu(a.pid), procstat.memory(a.pid)
        x0 = procstat.ctx_switches(a.pid)
        cp.wait_requests(path, n0 + min(100, n), timeout=60)
        m100 = procstat.memory(a.pid)
        cp.wait_requests(path, n0 + n, timeout=n * 0.3 + 60)
        c1, m1 = procstat.cpu(a.pid), procstat.memory(a.pid)
        x1 = procstat.ctx_switches(a.pid)
        n1 = len(cp.requests(path))
        reqs = cp.requests("/api/agent/*")
    finally:
        stop_agent(a)
        cp.close()
    cyc = float(n1 - n0)
    return {
        "tls": tls, "cycles": n1 - n0,
        "ns_per_cycle": (c1["ns"] - c0["ns"]) / cyc,
        "us_per_1000": ((c1["user"] + c1["sys"]) -
                        (c0["user"] + c0["sys"])) / cyc * 1000,
        "user_per_1000": (c1["user"] - c0["user"]) / cyc * 1000,
        "sys_per_1000": (c1["sys"] - c0["sys"]) / cyc * 1000,
        "ctx_per_cycle": (sum(x1) - sum(x0)) / cyc,
        "faults_per_cycle": (c1["minflt"] - c0["minflt"]) / cyc,
        "m0": m0, "m100": m100, "m1": m1,
        "paths": sorted({r.path for r in reqs}),
        "connections": len({r.conn_id for r in reqs}),
    }


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return None


def callgrind_run(w, tls, n):
    """Instructions per heartbeat cycle: callgrind counters zeroed after 10
    cycles, dumped after 10+n."""
    cp = w.cp(tls)
    wd = w.dir("callgrind")
    out = os.path.join(wd, "cg.out")
    wd2 = w.dir("cgusage")
    usage = os.path.join(wd2, "usage.json")
    with open(usage, "w") as f:
        json.dump({"core_uptime_sec": 100,
                   "user_bytes": {"alice": 1048576, "bob": 2097152}}, f)
    a = w.agent(cp, interval="100ms", what="cg",
                extra=["-proxy-usage-file", usage, "-allow-exec",
                       "-allow-root-exec"],
                wrapper=["valgrind", "--tool=callgrind",
                         "--callgrind-out-file=" + out])
    path = "/api/agent/metrics"
    try:
        cp.wait_requests(path, 10, timeout=120)
        subprocess.run(["callgrind_control", "-z", str(a.pid)],
                       capture_output=True, timeout=60, check=True)
        n0 = len(cp.requests(path))
        k0 = len(cp.requests("/api/agent/*"))
        cp.wait_requests(path, n0 + n, timeout=n * 2 + 120)
        subprocess.run(["callgrind_control", "-d", str(a.pid)],
                       capture_output=True, timeout=60, check=True)
        n1 = len(cp.requests(path))
        k1 = len(cp.requests("/api/agent/*"))
        per = (k1 - k0) / float(max(1, n1 - n0))
    finally:
        stop_agent(a)
        cp.close()
    dumps = sorted(glob.glob(out + ".1") + glob.glob(out + ".*.1"))
    if not dumps:
        raise RuntimeError("no callgrind dump in %s" % wd)
    ir = callgrind_total(dumps[0])
    # The dump counts up to the moment it ran; beats n0..n1 bracket it.
    return {"tls": tls, "ir_per_cycle": ir / float(n1 - n0),
            "cycles": n1 - n0, "requests_per_cycle": per,
            "breakdown": callgrind_breakdown(dumps[0], n1 - n0)}


def strace_run(w, tls, n):
    """System calls per cycle (strace -c attached to a running agent at
    100 ms with usage and task polling, between heartbeat 10 and 10+n)."""
    cp = w.cp(tls)
    wd = w.dir("strace")
    usage = os.path.join(wd, "usage.json")
    with open(usage, "w") as f:
        json.dump({"core_uptime_sec": 100,
                   "user_bytes": {"alice": 1048576, "bob": 2097152}}, f)
    a = w.agent(cp, interval="100ms", what="st",
                extra=["-proxy-usage-file", usage, "-allow-exec",
                       "-allow-root-exec"])
    path = "/api/agent/metrics"
    out = os.path.join(wd, "strace.txt")
    st = None
    try:
        cp.wait_requests(path, 10, timeout=60)
        st = subprocess.Popen(["strace", "-c", "-o", out, "-p",
                               str(a.pid)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        time.sleep(0.3)     # attach; the count starts at the next beat
        n0 = len(cp.requests(path))
        k0 = len(cp.requests("/api/agent/*"))
        cp.wait_requests(path, n0 + n, timeout=n * 0.5 + 60)
        n1 = len(cp.requests(path))
        k1 = len(cp.requests("/api/agent/*"))
        st.send_signal(signal.SIGINT)
        st.wait(30)
        st = None
    finally:
        if st is not None:
            st.kill()
            st.wait(5)
        stop_agent(a)
        cp.close()
    calls = {}
    with open(out) as f:
        for line in f:
            p = line.split()
            if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
                calls[p[-1]] = int(p[3])
    cyc = float(n1 - n0)
    return {"tls": tls, "cycles": n1 - n0,
            "requests_per_cycle": (k1 - k0) / cyc,
            "per_cycle": sum(calls.values()) / cyc,
            "top": sorted(((k, v / cyc) for k, v in calls.items()),
                          key=lambda kv: -kv[1])[:12]}


# Functions whose inclusive cost says where a cycle's instructions go.
CG_FUNCS = ("curl_multi_socket_action", "curl_easy_init", "curl_easy_cleanup",
            "curl_url_get", "curl_maprintf", "json_dumps", "json_loadb",
            "metrics_collect", "metrics_to_json", "usage_report_text",
            "api_request", "http_req_start", "http_finish",
            "agent_beat_start", "SSL_read", "SSL_write", "malloc", "free")


def callgrind_breakdown(path, cycles):
    r = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                        "--threshold=100", path], capture_output=True,
                       text=True, timeout=120)
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*?:(\w+)", line)
        if m and m.group(2) in CG_FUNCS and m.group(2) not in out:
            out[m.group(2)] = int(m.group(1).replace(",", "")) / \
                float(cycles)
    return out


# --- item 4: bytes on the wire -------------------------------------------

def bytes_run(w):
    """Wire bytes of hello, of a heartbeat with facts (-once sends them)
    and without (daemon heartbeats between fact refreshes), and of the
    other requests of a cycle; default flags, and with -allow-exec (as
    root also -allow-root-exec), which changes the task_sandbox object."""
    cp = w.cp(False)
    a = w.agent(cp, what="once", extra=["-once"])
    try:
        rc = a.wait_exit(30)
    finally:
        a.cleanup()
    once = cp.requests("/api/agent/*")
    runs = {}
    for key, extra in (("default", []),
                       ("exec", ["-allow-exec", "-allow-root-exec"])):
        k0 = len(cp.requests("/api/agent/*"))
        a = w.agent(cp, interval="200ms", what="bytes", extra=extra)
        try:
            cp.wait_requests("/api/agent/metrics", len(cp.requests(
                "/api/agent/metrics")) + 6, timeout=30)
        finally:
            stop_agent(a)
        runs[key] = cp.requests("/api/agent/*")[k0:]
    cp.close()
    beat_facts = [r for r in once if r.path == "/api/agent/metrics"]
    facts_json = None
    if beat_facts and beat_facts[0].json:
        facts_json = len(json.dumps(beat_facts[0].json.get("host_facts"),
                                    separators=(",", ":")))
    out = {"once_rc": rc, "beat_facts": med(wire_bytes(beat_facts)),
           "facts_json": facts_json}
    for key, reqs in runs.items():
        beats = [r for r in reqs if r.path == "/api/agent/metrics" and
                 r.json and "host_facts" not in r.json]
        polls = [r for r in reqs if r.path == "/api/agent/tasks"]
        sandbox = None
        if beats and "task_sandbox" in beats[-1].json:
            sandbox = len(json.dumps(beats[-1].json["task_sandbox"],
                                     separators=(",", ":"))) + \
                len(',"task_sandbox":')
        b = med(wire_bytes(beats))
        out[key] = {
            "hello": med(wire_bytes([r for r in reqs
                                     if r.path == "/api/agent/hello"])),
            "beat": b,
            "beat_headers": med([r.wire_bytes - len(r.body) for r in beats]),
            "beat_body": med([len(r.body) for r in beats]),
            "poll": med(wire_bytes(polls)),
            "sandbox": sandbox,
            "cycle": (b or 0) + (med(wire_bytes(polls)) or 0),
            "example_headers": beats[0].header_list if beats else None,
            "example_body": beats[-1].body.decode() if beats else None,
        }
    return out


# --- items 5 and 6: tasks ------------------------------------------------

def drain_run(w, ntasks=30):
    """30 echo tasks queued right after a heartbeat of an online agent at
    the default interval: seconds until the last result is accepted (from
    enqueue and from the first lease)."""
    cp = w.cp(False)
    a = w.agent(cp, what="drain", extra=["-allow-exec", "-allow-root-exec"])
    try:
        cp.wait_requests("/api/agent/metrics", 1, timeout=40)
        n = len(cp.requests("/api/agent/tasks"))
        t_enq = time.monotonic()
        tids = [cp.enqueue_task(NODE, "sh", "echo task %d" % i)
                for i in range(ntasks)]
        cp.wait_for(lambda: all(t in cp.results for t in tids), 120,
                    "%d results" % ntasks)
        polls = cp.requests("/api/agent/tasks")[n:]
        results = cp.requests("/api/agent/task-result")
        t_last = max(r.t_mono for r in results if r.status == 200)
        leasing = [r for r in polls if r.response and r.response != b"[]"]
        t_first = min(r.t_mono for r in leasing)
        beats = cp.requests("/api/agent/metrics")
    finally:
        stop_agent(a)
        cp.close()
    return {"enqueue_to_done": t_last - t_enq,
            "lease_to_done": t_last - t_first,
            "wait_first_lease": t_first - t_enq,
            "polls": len([r for r in polls if r.t_mono <= t_last]),
            "results": len(results),
            "beats_during": len([b for b in beats
                                 if t_enq <= b.t_mono <= t_last])}


def continuity_run(w, task_sec):
    """One long task (sleep task_sec) at the default interval: heartbeats
    received while it ran and the longest gap between them."""
    cp = w.cp(False)
    a = w.agent(cp, what="long", extra=["-allow-exec", "-allow-root-exec"])
    try:
        cp.wait_requests("/api/agent/metrics", 1, timeout=40)
        tid = cp.enqueue_task(NODE, "sh", "sleep %d; echo done" % task_sec,
                              timeout_sec=task_sec + 60)
        cp.wait_for(lambda: tid in cp.results, task_sec + 60,
                    "result of the long task")
        lease = [r for r in cp.requests("/api/agent/tasks")
                 if r.response and tid.encode() in r.response][0]
        res = [r for r in cp.requests("/api/agent/task-result")
               if r.status == 200][0]
        beats = [r.t_mono for r in cp.requests("/api/agent/metrics")]
    finally:
        stop_agent(a)
        cp.close()
    t0, t1 = lease.t_mono, res.t_mono
    inside = [t for t in beats if t0 <= t <= t1]
    before = [t for t in beats if t < t0][-1:]
    after = [t for t in beats if t > t1][:1]
    span = before + inside + after
    gaps = [b - x for x, b in zip(span, span[1:])]
    return {"task_seconds": t1 - t0, "beats": len(inside),
            "max_gap": max(gaps) if gaps else None,
            "expected": (t1 - t0) / 10.0}


# --- item 7 and the libraries --------------------------------------------

# Trivial programs: what loading and initialising each library set costs.
TRIVIAL = {
    "p0": ("", "", ""),
    "own_link": ("#include <event2/event.h>\n#include <jansson.h>\n"
                 "#include <openssl/ssl.h>\n",
                 "struct event_base *b = event_base_new(); json_t *j = "
                 "json_object(); if (argc > 2) OPENSSL_init_ssl(0, NULL);",
                 "json_decref(j); event_base_free(b);"),
    "own_init": ("#include <event2/event.h>\n#include <jansson.h>\n"
                 "#include <openssl/ssl.h>\n",
                 "struct event_base *b = event_base_new(); json_t *j = "
                 "json_object(); OPENSSL_init_ssl(0, NULL);",
                 "json_decref(j); event_base_free(b);"),
    "curl_link": ("#include <curl/curl.h>\n#include <stdio.h>\n",
                  "if (argc > 2) puts(curl_version());", ""),
    "curl_init": ("#include <curl/curl.h>\n",
                  "curl_global_init(CURL_GLOBAL_DEFAULT);",
                  "curl_global_cleanup();"),
}
TRIVIAL_PKG = {"p0": "",
               "own_link": "libevent_core libevent_extra jansson libssl "
                           "libcrypto",
               "own_init": "libevent_core libevent_extra jansson libssl "
                           "libcrypto",
               "curl_link": "libcurl", "curl_init": "libcurl"}
TRIVIAL_LABEL = {
    "p0": "`int main(){}` (libc only)",
    "own_link": "libevent (core, extra) + jansson + OpenSSL linked, "
                "OpenSSL not initialised (the agent's own stack)",
    "own_init": "the same + `OPENSSL_init_ssl()`",
    "curl_link": "libcurl linked, not initialised",
    "curl_init": "libcurl + `curl_global_init(CURL_GLOBAL_DEFAULT)`",
}


def build_trivial(w):
    d = w.dir("trivial")
    out = {}
    for name, (inc, body, end) in TRIVIAL.items():
        src = os.path.join(d, name + ".c")
        with open(src, "w") as f:
            f.write("#include <signal.h>\n%s"
                    "int main(int argc, char **argv) { %s\n"
                    "if (argc > 1) raise(SIGSTOP);\n%s return 0; }\n"
                    % (inc, body, end))
        flags = []
        if TRIVIAL_PKG[name]:
            flags = subprocess.run(["pkg-config", "--cflags", "--libs"] +
                                   TRIVIAL_PKG[name].split(),
                                   capture_output=True, text=True,
                                   check=True).stdout.split()
        exe = os.path.join(d, name)
        subprocess.run(["cc", "-O2", "-Wl,--no-as-needed", "-o", exe, src] +
                       flags, check=True, capture_output=True)
        out[name] = exe
    return out


def spawn_wait(argv):
    """Run argv with stdio on /dev/null; (wall ms, cpu ms, minor faults,
    exit status) from wait4's rusage."""
    fa = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
          (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
    t = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, {"PATH": os.environ.get("PATH", "")},
                         file_actions=fa)
    _, status, ru = os.wait4(pid, 0)
    wall = (time.perf_counter() - t) * 1000
    return (wall, (ru.ru_utime + ru.ru_stime) * 1000, ru.ru_minflt,
            os.waitstatus_to_exitcode(status))


def time_cmds(cmds, n):
    """Run each command n times, round robin: medians of wall ms, CPU ms
    (user + sys) and minor page faults."""
    runs = {k: [] for k in cmds}
    for _ in range(n):
        for k, argv in cmds.items():
            runs[k].append(spawn_wait(argv))
    out = {}
    for k, v in runs.items():
        wall = sorted(x[0] for x in v)
        out[k] = {"median": med(wall), "min": wall[0], "n": len(v),
                  "p90": wall[max(0, int(len(v) * 0.9) - 1)],
                  "cpu": med([x[1] for x in v]),
                  "faults": med([x[2] for x in v]),
                  "rc": sorted({x[3] for x in v})}
    return out


def ir_of(w, argv):
    d = w.dir("cg1")
    out = os.path.join(d, "cg.out")
    subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" +
                    out] + argv, capture_output=True, timeout=300,
                   env={"PATH": os.environ.get("PATH", "")})
    return callgrind_total(out) if os.path.exists(out) else None


def ld_stats(argv, n=15):
    keys = {"total": "total startup time in dynamic loader",
            "reloc": "time needed for relocation",
            "load": "time needed to load objects",
            "nreloc": "number of relocations"}
    vals = {k: [] for k in keys}
    for _ in range(n):
        env = {"PATH": os.environ.get("PATH", ""),
               "LD_DEBUG": "statistics"}
        r = subprocess.run(argv, capture_output=True, text=True, env=env,
                           timeout=30)
        seen = set()
        for line in r.stderr.splitlines():
            for k, pat in keys.items():
                if k in seen:
                    continue
                m = re.search(re.escape(pat) + r":\s+(\d+)", line)
                if m:
                    vals[k].append(int(m.group(1)))
                    seen.add(k)
    return {k: med(v) for k, v in vals.items()}


def ldd(path):
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    libs = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+)(?: => (\S+))?", line)
        if not m or m.group(1).startswith("linux-vdso"):
            continue
        p = m.group(2) or m.group(1)
        libs.append((m.group(1), os.path.realpath(p)))
    return libs


def stopped_memory(argv):
    """Memory of a trivial program that stops itself once initialised."""
    p = subprocess.Popen(argv + ["stop"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while procstat.state(p.pid) != "T":
            if time.monotonic() > deadline:
                raise RuntimeError("%s did not stop" % argv)
            time.sleep(0.01)
        m = procstat.memory(p.pid)
        m["mappings"] = sum(v["n"] for v in
                            procstat.smaps_by_file(p.pid).values())
        return m
    finally:
        p.kill()
        p.wait(5)


def mapped_hashed(strace_out):
    ca_bundle = hashed = 0
    for line in strace_out.splitlines():
        if "ca-certificates.crt" in line and "openat" in line:
            ca_bundle += 1
        if re.search(r'/etc/ssl/certs/[0-9a-f]{8}\.\d+"', line):
            hashed += 1
    return ca_bundle, hashed


def oneshot_run(w, n):
    cp_h = w.cp(False)
    cp_s = w.cp(True)
    try:
        triv = build_trivial(w)
        curl = shutil.which("curl")
        cmds = {
            "true": ["/bin/true"],
            "p0": [triv["p0"]],
            "own_link": [triv["own_link"]],
            "own_init": [triv["own_init"]],
            "curl_link": [triv["curl_link"]],
            "curl_init": [triv["curl_init"]],
            "version": [w.bin, "-version"],
            "collect": [w.bin, "--collect"],
            "selfcheck_http": [w.bin, "--selfcheck-controlplane",
                               "-server", cp_h.url],
            "selfcheck_https": [w.bin, "--selfcheck-controlplane",
                                "-server", cp_s.url, "-ca-file",
                                cp_s.ca_file],
        }
        if curl:
            cmds["curl_cli_http"] = [curl, "-sf", "-o", "/dev/null",
                                     cp_h.url + "/api/health"]
            cmds["curl_cli_https"] = [curl, "-sf", "-o", "/dev/null",
                                      "--cacert", cp_s.ca_file,
                                      cp_s.url + "/api/health"]
        log("one-shot timings: %d x %d commands" % (n, len(cmds)))
        times = time_cmds(cmds, n)
        log("callgrind totals of the one-shot commands")
        irs = {k: ir_of(w, cmds[k]) for k in
               tuple(TRIVIAL) + ("version", "collect", "selfcheck_http",
                                 "selfcheck_https")}
        ld = {k: ld_stats(cmds[k]) for k in tuple(TRIVIAL) + ("version",)}
        mem = {k: stopped_memory(cmds[k]) for k in TRIVIAL}
        st = subprocess.run(["strace", "-f", "-e", "trace=openat,open,stat,"
                             "newfstatat", "-o", "/dev/stderr"] +
                            cmds["selfcheck_https"], capture_output=True,
                            text=True, timeout=60)
        bundle, hashed = mapped_hashed(st.stderr)
        cafile_opened = cp_s.ca_file in st.stderr
        st_sys = subprocess.run(["strace", "-f", "-e", "trace=openat,open,"
                                 "stat,newfstatat",
                                 "-o", "/dev/stderr"] +
                                cmds["selfcheck_https"][:4],
                                capture_output=True, text=True, timeout=60)
        bundle_sys, hashed_sys = mapped_hashed(st_sys.stderr)
    finally:
        cp_h.close()
        cp_s.close()
    # Which libraries only libcurl brings, and what they cost in a daemon.
    agent_libs = ldd(w.bin)
    own_libs = {p for _, p in ldd(triv["own_link"])} | \
        {p for _, p in ldd(triv["p0"])}
    curl_only = [(n_, p) for n_, p in agent_libs if p not in own_libs]
    cp = w.cp(False)
    a = w.agent(cp, interval="1s", what="smaps")
    try:
        cp.wait_requests("/api/agent/metrics", 3, timeout=30)
        sm = procstat.smaps_by_file(a.pid)
        total = procstat.memory(a.pid)
    finally:
        stop_agent(a)
        cp.close()
    cpaths = {p for _, p in curl_only}
    opaths = own_libs
    def sumk(paths, k):
        return sum(v[k] for name, v in sm.items() if name in paths)
    libs = {
        "agent_n": len(agent_libs), "own_n": len(own_libs),
        "curl_only": [n_ for n_, _ in curl_only],
        "curl_rss": sumk(cpaths, "rss"), "curl_pss": sumk(cpaths, "pss"),
        "curl_pd": sumk(cpaths, "private_dirty"),
        "curl_maps": sumk(cpaths, "n"),
        "own_rss": sumk(opaths, "rss"), "own_pss": sumk(opaths, "pss"),
        "own_pd": sumk(opaths, "private_dirty"),
        "bin_rss": sumk({os.path.realpath(w.bin)}, "rss"),
        "maps": sum(v["n"] for v in sm.values()),
        "agent_mem": total,
    }
    return {"times": times, "irs": irs, "ld": ld, "mem": mem, "libs": libs,
            "nlibs": {k: len(ldd(v)) for k, v in triv.items()},
            "bundle_opened": bundle, "hashed_lookups": hashed,
            "cafile_opened": cafile_opened,
            "bundle_opened_sys": bundle_sys, "hashed_lookups_sys": hashed_sys,
            "hashed_links": len([f for f in os.listdir("/etc/ssl/certs")
                                 if re.fullmatch(r"[0-9a-f]{8}\.\d+", f)])}


# --- item 8 ---------------------------------------------------------------

def size_run(w):
    d = w.dir("size")
    s = os.path.join(d, "lattice-agent")
    shutil.copy(w.bin, s)
    subprocess.run(["strip", "--strip-all", s], check=True)
    sz = subprocess.run(["size", s], capture_output=True, text=True).stdout
    text, data, bss = (int(x) for x in sz.splitlines()[1].split()[:3])
    rd = subprocess.run(["readelf", "-d", w.bin], capture_output=True,
                        text=True).stdout
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", rd)
    return {"unstripped": os.path.getsize(w.bin),
            "stripped": os.path.getsize(s), "text": text, "data": data,
            "bss": bss, "needed": needed,
            "loaded": [n for n, _ in ldd(w.bin)]}


# --- item 9 ---------------------------------------------------------------

def fleet_run(w, n, secs):
    cp = ControlPlane(rate_limit=False)
    cp.start()
    for i in range(n):
        cp.add_node("fleet-%03d" % i, "%s-%03d" % (TOKEN[:39], i))
    agents = []
    try:
        t0 = time.monotonic()
        for i in range(n):
            agents.append(w.agent(cp, what="fleet", node="fleet-%03d" % i,
                                  token="%s-%03d" % (TOKEN[:39], i)))
        spawn = time.monotonic() - t0
        sleep_until(t0 + secs)
        live = [a for a in agents if a.running]
        pss = [procstat.memory(a.pid) for a in live]
        reqs = cp.requests("/api/agent/*")
    finally:
        for a in agents:
            a.terminate()
        for a in agents:
            try:
                a.wait_exit(15)
            except AssertionError:
                pass
            a.cleanup(remove=True)
        cp.close()
    def hist(rs):
        h = [0] * secs
        for r in rs:
            b = int(r.t_mono - t0)
            if 0 <= b < secs:
                h[b] += 1
        return h
    h = hist(reqs)
    hb = hist([r for r in reqs if r.path == "/api/agent/metrics"])
    mean = sum(h) / float(secs)
    # Heartbeats only after the first interval (hellos fill the first one).
    hb_tail = hb[10:]
    mean_hb = sum(hb_tail) / float(len(hb_tail)) if hb_tail else 0
    return {"n": n, "secs": secs, "spawn": spawn, "hist": h,
            "max": max(h), "mean": mean,
            "ratio": max(h) / mean if mean else None,
            "hb_ratio": max(hb_tail) / mean_hb if mean_hb else None,
            "alive": len(live), "errors": len([r for r in reqs
                                               if (r.status or 0) >= 400]),
            "pss_total": sum(m["pss"] for m in pss),
            "pss_anon_mean": med([m["pss_anon"] for m in pss]),
            "rss_mean": med([m["rss"] for m in pss]),
            "paths": sorted({r.path for r in reqs})}


# --- the machine ----------------------------------------------------------

def machine():
    def sh(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    pkgs = sh("dpkg-query", "-W", "-f", "${Package} ${Version}\\n",
              "libcurl4", "libevent-core-2.1-7", "libjansson4", "libssl3",
              "libc6", "valgrind")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(), "mem_mib": mem,
        "kernel": platform.release(), "cpu": cpu,
        "debian": open("/etc/debian_version").read().strip()
        if os.path.exists("/etc/debian_version") else "?",
        "cc": sh("cc", "--version").splitlines()[0],
        "curl": sh("curl-config", "--version"),
        "packages": pkgs.splitlines(),
        "git": sh("git", "-C", TOP, "describe", "--always", "--dirty"),
    }


# --- the table ------------------------------------------------------------

class Table:
    def __init__(self):
        self.rows = []

    def add(self, item, what, ours, go="—", target="—", met=None):
        if met is True:
            m = "yes"
        elif met is False:
            m = "**no**"
        elif met is None:
            m = "—"
        else:
            m = met
        self.rows.append((item, what, ours, go, target, m))

    def markdown(self):
        out = ["| # | measurement | lattice-agent | Go agent (reference) "
               "| target | met? |",
               "| --- | --- | --- | --- | --- | --- |"]
        for r in sorted(self.rows, key=lambda r: r[0]):
            out.append("| %s |" % " | ".join(str(x) for x in r))
        return "\n".join(out)


def build_table(R, quick):
    t = Table()
    details = []
    idle = R.get("idle") or {}
    if idle:
        for key, go_rss, go_anon in (("10s-http", "8.2 MB", "2.4 MB"),
                                     ("10s-tls", "—", "—"),
                                     ("1s-http", "11.1 MB", "5.4 MB"),
                                     ("1s-tls", "13.0 MB", "6.9 MB")):
            r = idle.get(key)
            if not isinstance(r, dict):
                t.add(1, "idle %s" % key, "failed: %s" % r)
                continue
            m1 = r["mem1"]
            t.add(1, "RSS / PSS after %.0f s of heartbeats, %s" %
                  (r["mem_at"], key),
                  "%s / %s" % (fmt_mib(m1["rss"]), fmt_mib(m1["pss"])),
                  go_rss, "stretch: RSS < 8.2 MB",
                  "stretch: %s" % ("yes" if m1["rss"] / KIB < 8.2 * 1e6 /
                                   MIB else "no"))
            t.add(1, "private memory (Private_Dirty / Pss_Anon), %s" % key,
                  "%s / %s" % (fmt_mib(m1["private_dirty"]),
                               fmt_mib(m1["pss_anon"])),
                  go_anon, "≤ 3 MiB", max(m1["private_dirty"],
                                          m1["pss_anon"]) <= 3 * KIB)
            if r["seconds"] > r["mem_at"] + 1:
                m2 = r["mem2"]
                t.add(1, "Pss_Anon at %.0f s → %.0f s, %s (flat = no leak)"
                      % (r["mem_at"], r["seconds"], key),
                      "%s → %s" % (fmt_mib(m1["pss_anon"]),
                                   fmt_mib(m2["pss_anon"])), "—", "flat",
                      m2["pss_anon"] - m1["pss_anon"] <= 64)
        for key in ("10s-http", "10s-tls", "10s-http+usage"):
            r = idle.get(key)
            if isinstance(r, dict):
                t.add(2, "CPU per cycle at the default 10 s, %s (schedstat "
                      "over the idle run, all requests of the cycle)" % key,
                      "%.3f ms" % r["cpu_ms_per_beat"],
                      "≈ 3.8 ms" if r["tls"] else "≈ 3 ms", "< 0.5 ms",
                      r["cpu_ms_per_beat"] < 0.5)
        for key, go in (("10s-http", "≈ 450"), ("10s-tls", "—"),
                        ("10s-http+usage", "—"),
                        ("1s-http", "≈ 2 800"), ("1s-tls", "—")):
            r = idle.get(key)
            if not isinstance(r, dict):
                continue
            tgt = "< 45" if key.startswith("10s") else "—"
            t.add(3, "context switches per minute (vol + invol), %s, "
                  "over %.0f s" % (key, r["seconds"]),
                  "%.0f (%.0f + %.0f)" % (r["ctx_per_min"], r["vol_per_min"],
                                         r["invol_per_min"]),
                  go, tgt, r["ctx_per_min"] < 45 if tgt != "—" else None)
        for key in ("10s-http", "10s-tls", "10s-http+usage"):
            r = idle.get(key)
            if not isinstance(r, dict):
                continue
            t.add(4, "requests per minute per node, %s (%s)" %
                  (key, ", ".join(p.rsplit("/", 1)[1] for p in r["paths"])),
                  "%.1f" % r["req_per_min"], "—", "low, predictable", None)
            if "usage" in key:
                continue
            t.add(4, "TCP connections used over %.1f min of heartbeats, %s"
                  % (r["seconds"] / 60, key),
                  "%d (longest carried %.1f min of heartbeats)" %
                  (r["connections"], r["longest_conn_min"]),
                  "new one nearly every cycle",
                  "1 for ≥ 10 min" + (" (quick run: shorter)"
                                      if r["seconds"] < 590 else ""),
                  r["connections"] == 1 and r["seconds"] >= 590
                  if r["seconds"] >= 590 else
                  ("partial: yes" if r["connections"] == 1 else False))
    cyc = R.get("cycles")
    if isinstance(cyc, dict):
        for tls in (False, True):
            rs = [x for x in cyc["runs"] if isinstance(x, dict) and
                  x.get("tls") == tls]
            sr = [x["strace"] for x in cyc["runs"] if isinstance(x, dict)
                  and "strace" in x and x["strace"]["tls"] == tls]
            if not rs:
                continue
            lab = "TLS" if tls else "http"
            n = rs[0]["cycles"]
            ns = med([x["ns_per_cycle"] for x in rs])
            t.add(2, "CPU per heartbeat cycle at 100 ms, %s (schedstat, "
                  "median of %d agents × %d cycles)" % (lab, len(rs), n),
                  "%.3f ms" % (ns / 1e6), "≈ 3.8 ms" if tls else "≈ 3 ms",
                  "< 0.5 ms", ns / 1e6 < 0.5)
            t.add(2, "user + sys seconds per 1 000 cycles, %s (clock "
                  "ticks)" % lab, "%.3f s (%.3f + %.3f)" % (
                      med([x["us_per_1000"] for x in rs]),
                      med([x["user_per_1000"] for x in rs]),
                      med([x["sys_per_1000"] for x in rs])),
                  "≈ 3.8 s" if tls else "≈ 3 s", "< 0.5 s",
                  med([x["us_per_1000"] for x in rs]) < 0.5)
            an = [(x["m0"]["pss_anon"], x["m100"]["pss_anon"],
                   x["m1"]["pss_anon"]) for x in rs]
            mid = sorted(an, key=lambda v: v[2])[len(an) // 2]
            t.add(1, "Pss_Anon after 10 → 110 → %d heartbeats at 100 ms "
                  "with usage and task polling, %s" % (n + 10, lab),
                  " → ".join(fmt_mib(v) for v in mid), "—",
                  "≤ 3 MiB and flat",
                  mid[2] <= 3 * KIB and mid[2] - mid[1] <= 64)
            t.add(3, "context switches / minor page faults per cycle at "
                  "100 ms, %s" % lab, "%.1f / %.2f" % (
                      med([x["ctx_per_cycle"] for x in rs]),
                      med([x["faults_per_cycle"] for x in rs])), "—", "—")
            for x in sr:
                t.add(2, "system calls per cycle at 100 ms, %s (strace -c, "
                      "%d cycles, %.1f requests per cycle): top ones" % (
                          lab, x["cycles"], x["requests_per_cycle"]),
                      "%.0f: %s" % (x["per_cycle"], ", ".join(
                          "%s %.1f" % tuple(kv) for kv in x["top"][:8])),
                      "—", "—")
    cg = R.get("callgrind")
    if isinstance(cg, dict):
        for tls in (False, True):
            x = cg.get("tls" if tls else "http")
            if isinstance(x, dict):
                t.add(2, "instructions per cycle at 100 ms with usage and "
                      "task polling (callgrind, %d cycles, %.1f requests "
                      "per cycle), %s" % (x["cycles"],
                                          x["requests_per_cycle"],
                                          "TLS" if tls else "http"),
                      "%.0f k" % (x["ir_per_cycle"] / 1e3), "—", "—")
    b = R.get("bytes")
    if isinstance(b, dict):
        d = b["default"]
        t.add(4, "bytes per heartbeat with facts (-once, default flags): "
              "request line + headers + body", fmt(b["beat_facts"]),
              "1 265 per cycle (340 facts)", "—")
        for key, lab in (("default", "default flags"),
                         ("exec", "-allow-exec -allow-root-exec")):
            x = b[key]
            t.add(4, "bytes per heartbeat without facts, %s (headers %s + "
                  "body %s, of which task_sandbox %s)" % (
                      lab, fmt(x["beat_headers"]), fmt(x["beat_body"]),
                      fmt(x["sandbox"])), fmt(x["beat"]),
                  "— (facts every time)", "—")
        if d["beat"] and b["beat_facts"]:
            own = 1 - d["beat"] / float(b["beat_facts"])
            vs_go = 1 - d["beat"] / 1265.0
            t.add(4, "heartbeat without facts (default flags): fewer bytes "
                  "than ours with facts / than Go's 1 265", "%.1f%% / %.1f%%"
                  % (own * 100, vs_go * 100), "—", "≥ 40%",
                  "%s / %s" % ("yes" if own >= 0.4 else "**no**",
                               "yes" if vs_go >= 0.4 else "**no**"))
        x = b["exec"]
        if x["beat"]:
            vs_go = 1 - x["beat"] / 1265.0
            t.add(4, "heartbeat without facts with -allow-exec: fewer bytes "
                  "than Go's 1 265", "%.1f%%" % (vs_go * 100), "—", "≥ 40%",
                  vs_go >= 0.4)
        if d["poll"]:
            t.add(4, "bytes per cycle: heartbeat + task poll (%s), default "
                  "flags / -allow-exec" % fmt(d["poll"]), "%s / %s" % (
                      fmt(d["cycle"]), fmt(x["cycle"])), "1 265", "—")
        t.add(4, "hello (with facts; facts JSON %s bytes)" %
              fmt(b["facts_json"]), fmt(d["hello"]), "—", "—")
    tk = R.get("tasks")
    if isinstance(tk, dict) and tk.get("skipped"):
        t.add(5, "30 queued echo tasks at the default 10 s", "not measured: "
              + tk["skipped"], "99.9 s", "< 5 s", "not measured")
        t.add(6, "heartbeats during a 60 s task", "not measured",
              "none", "one per interval", "not measured")
    elif isinstance(tk, dict):
        d = [x for x in tk["drain"] if isinstance(x, dict)]
        if d:
            l2d = med([x["lease_to_done"] for x in d])
            e2d = med([x["enqueue_to_done"] for x in d])
            t.add(5, "30 queued echo tasks at the default 10 s: first lease "
                  "→ 30th result accepted (median of %d)" % len(d),
                  "%.2f s" % l2d, "—", "< 5 s", l2d < 5)
            t.add(5, "same, from enqueue (includes waiting for the next "
                  "poll, ≤ 1 interval)", "%.2f s (wait %.1f s)" %
                  (e2d, med([x["wait_first_lease"] for x in d])), "99.9 s",
                  "< 5 s", e2d < 5)
        else:
            t.add(5, "task drain", "failed: %s" % tk["drain"])
        c = tk.get("continuity")
        if isinstance(c, dict):
            ok = c["max_gap"] is not None and c["max_gap"] <= 11.25 and \
                c["beats"] >= int(c["expected"]) - 1
            t.add(6, "heartbeats received during a %.0f s task at 10 s "
                  "(longest gap)" % c["task_seconds"],
                  "%d (%.2f s)" % (c["beats"], c["max_gap"] or 0), "0",
                  "one per interval, gap ≤ 11 s", ok)
        else:
            t.add(6, "heartbeat continuity", "failed: %s" % c)
    o = R.get("oneshot")
    if isinstance(o, dict):
        tm = o["times"]
        s_http = tm["selfcheck_http"]["median"]

        def one(k):
            v = tm[k]
            return "%.1f ms (min %.1f; CPU %.1f ms, %.0f faults)" % (
                v["median"], v["min"], v["cpu"], v["faults"])
        t.add(7, "`--selfcheck-controlplane` over http: wall, median of %d"
              % tm["selfcheck_http"]["n"], one("selfcheck_http"),
              "≈ 5 ms", "stretch: ≤ 5 ms",
              "stretch: %s" % ("yes" if s_http <= 5 else "no"))
        t.add(7, "`--selfcheck-controlplane` over https (-ca-file)",
              one("selfcheck_https"), "—", "—")
        t.add(7, "`--collect` (two samples 250 ms apart for cpu_percent)",
              one("collect"), "—", "—")
        t.add(7, "for scale: `-version` / `/bin/true`", "%.1f / %.1f ms" % (
            tm["version"]["median"], tm["true"]["median"]), "—", "—")
        if "curl_cli_http" in tm:
            t.add(7, "for scale: curl(1) on the same endpoint, http / "
                  "https", "%.1f / %.1f ms" % (
                      tm["curl_cli_http"]["median"],
                      tm["curl_cli_https"]["median"]), "—", "—")
        ir = o["irs"]
        t.add(7, "instructions (callgrind, whole process): selfcheck http "
              "/ https / --collect / -version",
              "%s / %s / %s / %s" % tuple(
                  fmt(ir[k] and ir[k] / 1e6, "%.1f", " M") for k in
                  ("selfcheck_http", "selfcheck_https", "collect",
                   "version")), "—", "—")
    s = R.get("size")
    if isinstance(s, dict):
        t.add(8, "binary size stripped (text + data + bss)",
              "%.0f KiB (%d + %d + %d)" % (s["stripped"] / KIB, s["text"],
                                           s["data"], s["bss"]),
              "—", "—")
        t.add(8, "shared libraries: linked directly / loaded",
              "%d / %d" % (len(s["needed"]), len(s["loaded"])), "—", "—")
    f = R.get("fleet")
    if isinstance(f, dict):
        t.add(9, "fleet: %d agents started within %.1f s, request arrivals "
              "per second over %d s: max / mean" % (f["n"], f["spawn"],
                                                    f["secs"]),
              "%d / %.1f = %.2f" % (f["max"], f["mean"], f["ratio"]),
              "—", "< 2", f["ratio"] < 2)
        t.add(9, "fleet: heartbeats only, after the first 10 s: max / mean",
              fmt(f["hb_ratio"], "%.2f"), "—", "—")
    for k, v in R.items():
        if isinstance(v, str):
            t.add(min(ITEMS.get(k, (0,))), "%s" % k, "failed: %s" %
                  v.splitlines()[-1][:120])
    return t


def details_md(R, M):
    out = []
    s = R.get("size")
    if isinstance(s, dict):
        out.append("### Item 8: libraries\n\nLinked directly (NEEDED): %s."
                   "\n\nLoaded (%d, `ldd`): %s.\n" % (
                       ", ".join(s["needed"]), len(s["loaded"]),
                       ", ".join(s["loaded"])))
    o = R.get("oneshot")
    if isinstance(o, dict):
        tm, ir, ld, mem, lb = (o["times"], o["irs"], o["ld"], o["mem"],
                               o["libs"])
        mhz = cpu_mhz()
        def ldms(k):
            v = ld[k]["total"]
            return "—" if v is None else "%.2f ms" % (v / (mhz * 1e3))
        out.append("### Also: what Debian's libcurl costs\n")
        out.append("Trivial programs built at bench time, each run %d "
                   "times (wall, median), under callgrind (instructions, "
                   "whole process) and stopped after initialisation "
                   "(memory):\n" % tm["p0"]["n"])
        out.append("| program | libs | wall | CPU | page faults | "
                   "instructions | ld.so startup | RSS | PSS | Private_Dirty "
                   "| mappings |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- "
                   "| --- | --- |")
        for k, label in TRIVIAL_LABEL.items():
            m = mem.get(k, {})
            out.append("| %s | %s | %.2f ms | %.2f ms | %.0f | %s | %s | %s "
                       "| %s | %s | %s |"
                       % (label, o["nlibs"][k], tm[k]["median"],
                          tm[k]["cpu"], tm[k]["faults"],
                          fmt(ir.get(k) and ir[k] / 1e6, "%.2f", " M"),
                          ldms(k) if k in ld else "—",
                          fmt_mib(m.get("rss")), fmt_mib(m.get("pss")),
                          fmt_mib(m.get("private_dirty")),
                          m.get("mappings", "—")))
        out.append("| lattice-agent `-version` | %d | %.2f ms | %.2f ms | "
                   "%.0f | %s | %s | — | — | — | — |" % (
                       lb["agent_n"], tm["version"]["median"],
                       tm["version"]["cpu"], tm["version"]["faults"],
                       fmt(ir["version"] and ir["version"] / 1e6, "%.2f",
                           " M"), ldms("version")))
        out.append("")
        out.append("In a running daemon (1 s interval, after 3 heartbeats, "
                   "%d mappings, RSS %s, PSS %s): the %d libraries that "
                   "only libcurl brings (%s) map RSS %s, PSS %s, "
                   "Private_Dirty %s in %d mappings; the agent's own stack "
                   "plus libc (%d libraries) RSS %s, PSS %s, Private_Dirty "
                   "%s; the binary itself RSS %s.\n" % (
                       lb["maps"], fmt_mib(lb["agent_mem"]["rss"]),
                       fmt_mib(lb["agent_mem"]["pss"]),
                       len(lb["curl_only"]), ", ".join(lb["curl_only"]),
                       fmt_mib(lb["curl_rss"]), fmt_mib(lb["curl_pss"]),
                       fmt_mib(lb["curl_pd"]), lb["curl_maps"],
                       lb["own_n"], fmt_mib(lb["own_rss"]),
                       fmt_mib(lb["own_pss"]), fmt_mib(lb["own_pd"]),
                       fmt_mib(lb["bin_rss"])))
        out.append("One-shot runs (%d each, round robin; wall ms median / "
                   "min / p90 including posix_spawn, CPU ms and minor page "
                   "faults from wait4's rusage, medians):\n" % tm["p0"]["n"])
        out.append("| command | wall median | min | p90 | CPU | faults | "
                   "exit |")
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for k, v in tm.items():
            out.append("| %s | %.2f | %.2f | %.2f | %.2f | %.0f | %s |" % (
                k, v["median"], v["min"], v["p90"], v["cpu"], v["faults"],
                ",".join(str(x) for x in v["rc"])))
        out.append("")
        out.append("CA lookup for `--selfcheck-controlplane` over https: "
                   "/etc/ssl/certs has %d hashed links, so http.c sets "
                   "CURLOPT_CAPATH=/etc/ssl/certs. With `-ca-file`: the CA "
                   "file %s opened, the bundle ca-certificates.crt opened "
                   "%d times, hashed names looked up %d times. Without "
                   "`-ca-file` (verification then fails, the test CA is not "
                   "in the system store): bundle opened %d times, hashed "
                   "names looked up %d times.\n" % (
                       o["hashed_links"],
                       "was" if o["cafile_opened"] else "was NOT",
                       o["bundle_opened"], o["hashed_lookups"],
                       o["bundle_opened_sys"], o["hashed_lookups_sys"]))
    cg = R.get("callgrind")
    if isinstance(cg, dict) and any(isinstance(v, dict) for v in
                                    cg.values()):
        out.append("### Item 2: where a cycle's instructions go\n")
        out.append("Inclusive instructions per cycle (callgrind, heartbeat "
                   "+ usage report + task poll when present; a function's "
                   "figure includes its callees, so rows overlap):\n")
        cols = [k for k in ("http", "tls") if isinstance(cg.get(k), dict)]
        out.append("| function | %s |" % " | ".join(cols))
        out.append("| --- |%s" % (" --- |" * len(cols)))
        out.append("| (whole cycle) | %s |" % " | ".join(
            "%.0f k (%.2f requests)" % (cg[c]["ir_per_cycle"] / 1e3,
                                        cg[c]["requests_per_cycle"])
            for c in cols))
        names = sorted({n for c in cols for n in cg[c]["breakdown"]},
                       key=lambda n: -cg[cols[0]]["breakdown"].get(n, 0))
        for n in names:
            out.append("| %s | %s |" % (n, " | ".join(
                fmt(cg[c]["breakdown"].get(n) and
                    cg[c]["breakdown"][n] / 1e3, "%.1f", " k")
                for c in cols)))
        out.append("")
    f = R.get("fleet")
    if isinstance(f, dict):
        out.append("### Item 9: fleet histogram\n")
        out.append("Requests per second at the control plane (%s), second "
                   "0 = first agent spawned; %d of %d agents alive at the "
                   "end, %d answers ≥ 400. Memory of the fleet at the end: "
                   "PSS %s in total, per agent median RSS %s, Pss_Anon %s."
                   "\n" % (", ".join(f["paths"]), f["alive"], f["n"],
                           f["errors"], fmt_mib(f["pss_total"]),
                           fmt_mib(f["rss_mean"]),
                           fmt_mib(f["pss_anon_mean"])))
        out.append("```")
        h = f["hist"]
        for i in range(0, len(h), 10):
            out.append("%3d-%3d s: %s" % (i, i + 9, " ".join(
                "%3d" % x for x in h[i:i + 10])))
        out.append("```\n")
    b = R.get("bytes")
    if isinstance(b, dict) and b["exec"].get("example_headers"):
        out.append("### Item 4: a heartbeat (-allow-exec as root)\n")
        out.append("```")
        for k, v in b["exec"]["example_headers"]:
            out.append("%s: %s" % (k, "Bearer <%d-char token>" % len(TOKEN)
                                   if k.lower() == "authorization" else v))
        out.append("")
        out.append(b["exec"]["example_body"] or "")
        out.append("```\n")
    idle = R.get("idle") or {}
    if idle:
        out.append("### Items 1, 3: idle runs\n")
        out.append("| run | seconds | RSS | PSS | Pss_Anon | Private_Dirty "
                   "| CPU ms/min | ctx/min | req/min | threads |")
        out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- "
                   "| --- |")
        for k, r in sorted(idle.items()):
            if not isinstance(r, dict):
                out.append("| %s | failed | | | | | | | | |" % k)
                continue
            m = r["mem2"]
            out.append("| %s | %.0f | %s | %s | %s | %s | %.1f | %.0f | "
                       "%.1f | %d |" % (
                           k, r["seconds"], fmt_mib(m["rss"]),
                           fmt_mib(m["pss"]), fmt_mib(m["pss_anon"]),
                           fmt_mib(m["private_dirty"]), r["cpu_ms_per_min"],
                           r["ctx_per_min"], r["req_per_min"], r["threads"]))
        for k, r in sorted(idle.items()):
            if isinstance(r, dict) and r.get("extra_conns"):
                out.append("- %s: extra connection(s): first request %s."
                           % (k, "; ".join(r["extra_conns"])))
        out.append("")
    tk = R.get("tasks")
    if isinstance(tk, dict) and not tk.get("skipped"):
        out.append("### Items 5, 6: tasks\n")
        out.append("```\n%s\n```\n" % json.dumps(tk, indent=1,
                                                  default=str))
    return "\n".join(out)


def cpu_mhz():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("cpu MHz"):
                return float(line.split(":")[1])
    return 1000.0


def machine_md(M, mode, elapsed):
    return "\n".join([
        "Generated by `bench/run.sh%s` on %s in %.1f min (commit %s)." % (
            " --quick" if mode == "quick" else "", M["date"], elapsed / 60,
            M["git"]),
        "",
        "Machine: %s CPUs (%s), %d MiB RAM, kernel %s, Debian %s; %s; "
        "%s." % (M["nproc"], M["cpu"], M["mem_mib"], M["kernel"],
                         M["debian"], M["cc"], M["curl"]),
        "Packages: %s." % "; ".join(M["packages"]),
        "" if not M.get("merged") else "\nMerged results: %s." %
        M["merged"],
        "",
        "All traffic on loopback against `tests/controlplane/controlplane.py`"
        " (Python, one thread per connection). Release build "
        "(`-Dbuildtype=release -Db_lto=true`). Memory in MiB (1 MiB = "
        "1 048 576 bytes; the Go figures are the issue's \"MB\").",
    ])


def write_md(path, body):
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    block = "%s\n%s\n%s" % (begin, body, end)
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) +
                                                   len(end):]
    else:
        new = "# Benchmarks\n\n%s\n\n## Notes\n\n(see the report)\n" % block
    with open(path + ".tmp", "w") as f:
        f.write(new)
    os.replace(path + ".tmp", path)


# --- driver -----------------------------------------------------------------

def guarded(R, key, fn, *a):
    try:
        R[key] = fn(*a)
    except Exception:
        R[key] = "error: " + traceback.format_exc()
        log("%s failed:\n%s" % (key, R[key]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--quick", action="store_true",
                    help="short durations: a smoke run (minutes)")
    ap.add_argument("--only", default="",
                    help="comma-separated item numbers (1-9) to run")
    ap.add_argument("--skip", default="",
                    help="comma-separated item numbers to leave out")
    ap.add_argument("--write", metavar="FILE",
                    help="replace the generated part of FILE")
    ap.add_argument("--json", metavar="FILE", help="raw results as JSON")
    ap.add_argument("--merge", action="store_true",
                    help="take the items not run now from the --json file "
                    "of an earlier run")
    a = ap.parse_args()
    only = {int(x) for x in a.only.split(",") if x}
    skip = {int(x) for x in a.skip.split(",") if x}

    def want(group):
        items = set(ITEMS[group])
        if only and not items & only:
            return False
        return not items <= skip

    q = a.quick
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="lattice-bench-")
    w = World(os.path.abspath(a.bin), tmp, q)
    R = {}
    M = machine()
    # Make the CA once, before threads race to create it.
    TLSMaterial(w.tls_dir).cert("ok")

    bg = []
    if want("idle"):
        long_s = 60 if q else 600
        short_s = 30 if q else 120
        R["idle"] = {}

        def one(key, interval, tls, dur, usage=False):
            try:
                R["idle"][key] = idle_run(w, key, interval, tls, dur,
                                          usage=usage)
            except Exception:
                R["idle"][key] = "error: " + traceback.format_exc()
                log("idle %s failed:\n%s" % (key, R["idle"][key]))
            log("idle run %s done" % key)
        for key, iv, tls, dur, us in (
                ("10s-http", None, False, long_s, False),
                ("10s-tls", None, True, long_s, False),
                ("10s-http+usage", None, False, short_s * 2, True),
                ("1s-http", "1s", False, short_s, False),
                ("1s-tls", "1s", True, short_s, False)):
            th = threading.Thread(target=one, args=(key, iv, tls, dur, us),
                                  daemon=True)
            th.start()
            bg.append(th)
        log("idle runs started in the background (%d s at 10 s, %d s at "
            "1 s)" % (long_s, short_s))

    if want("size"):
        guarded(R, "size", size_run, w)
    if want("oneshot"):
        guarded(R, "oneshot", oneshot_run, w, 15 if q else 50)
    if want("bytes"):
        log("bytes on the wire")
        guarded(R, "bytes", bytes_run, w)
    if want("callgrind"):
        log("callgrind per cycle (http and TLS)")
        R["callgrind"] = {}
        n = 30 if q else 100

        def cg(tls):
            try:
                R["callgrind"]["tls" if tls else "http"] = \
                    callgrind_run(w, tls, n)
            except Exception:
                R["callgrind"]["tls" if tls else "http"] = \
                    "error: " + traceback.format_exc()
                log("callgrind failed:\n%s" % traceback.format_exc())
        ths = [threading.Thread(target=cg, args=(t,)) for t in (False, True)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(900)
    if want("cycles"):
        n = 200 if q else 1000
        k = 1 if q else 3
        log("%d cycles at 100 ms: %d http + %d TLS agents" % (n, k, k))
        runs = []

        def cy(tls):
            try:
                runs.append(cycle_run(w, tls, n))
            except Exception:
                runs.append("error: " + traceback.format_exc())
                log("cycles failed:\n%s" % traceback.format_exc())
        def sc(tls):
            try:
                runs.append({"strace": strace_run(w, tls, 50 if q else 100)})
            except Exception:
                runs.append("error: " + traceback.format_exc())
                log("strace failed:\n%s" % traceback.format_exc())
        ths = [threading.Thread(target=cy, args=(tls,))
               for tls in [False] * k + [True] * k]
        ths += [threading.Thread(target=sc, args=(tls,))
                for tls in (False, True)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(n * 0.3 + 180)
        R["cycles"] = {"runs": runs}
    if want("tasks"):
        if not w.task_support():
            R["tasks"] = {"skipped": "this build does not poll for tasks "
                          "(issue 4, src/task.c, not on main yet)"}
            log("tasks: skipped, no task support in this tree")
        else:
            log("tasks: drain and continuity")
            tk = {"drain": []}
            for _ in range(1 if q else 3):
                try:
                    tk["drain"].append(drain_run(w))
                except Exception:
                    tk["drain"].append("error: " + traceback.format_exc())
                    log("drain failed:\n%s" % traceback.format_exc())
            try:
                tk["continuity"] = continuity_run(w, 20 if q else 60)
            except Exception:
                tk["continuity"] = "error: " + traceback.format_exc()
                log("continuity failed:\n%s" % traceback.format_exc())
            R["tasks"] = tk
    if want("fleet"):
        n, secs = 200, (40 if q else 120)
        log("fleet: %d agents for %d s" % (n, secs))
        guarded(R, "fleet", fleet_run, w, n, secs)
    for th in bg:
        log("waiting for the idle runs")
        th.join(900)

    elapsed = time.monotonic() - t_start
    if a.merge and a.json and os.path.exists(a.json):
        with open(a.json) as f:
            prev = json.load(f)
        kept = sorted(k for k in prev["results"] if k not in R)
        for k in kept:
            R[k] = prev["results"][k]
        M["merged"] = "%s from the run of %s, the rest re-run" % (
            ", ".join(kept), prev["machine"]["date"])
    table = build_table(R, q)
    body = "%s\n\n## Results\n\n%s\n\n## Details\n\n%s" % (
        machine_md(M, "quick" if q else "full", elapsed), table.markdown(),
        details_md(R, M))
    print(table.markdown())
    if a.write:
        write_md(a.write, body)
        log("wrote %s" % a.write)
    if a.json:
        def strip(o):
            if isinstance(o, dict):
                return {k: strip(v) for k, v in o.items() if k != "smaps"}
            if isinstance(o, list):
                return [strip(x) for x in o]
            return o
        with open(a.json, "w") as f:
            json.dump({"machine": M, "results": strip(R)}, f, indent=1,
                      default=str)
    if not os.environ.get("LATTICE_BENCH_KEEP"):
        shutil.rmtree(tmp, ignore_errors=True)
    log("done in %.1f min" % (elapsed / 60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
