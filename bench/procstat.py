"""Per-process counters from /proc, for the benchmarks.

Everything here reads one process we started (by PID) and returns plain
numbers: memory from status and smaps_rollup, CPU from stat and schedstat,
context switches summed over every thread of the process.  Counts that do
not depend on the machine's speed are preferred (bytes, switches,
instructions); CPU time is reported too, as medians by the caller.
"""

import os
import re

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _kv_kib(path):
    """'Key:   123 kB' lines -> {Key: KiB}."""
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            v = v.split()
            if v and v[0].isdigit():
                out[k.strip()] = int(v[0])
    return out


def memory(pid):
    """RSS, peak RSS, PSS and private memory in KiB."""
    st = _kv_kib("/proc/%d/status" % pid)
    sm = _kv_kib("/proc/%d/smaps_rollup" % pid)
    return {
        "rss": st.get("VmRSS", 0),
        "hwm": st.get("VmHWM", 0),
        "pss": sm.get("Pss", 0),
        "pss_anon": sm.get("Pss_Anon", 0),
        "pss_file": sm.get("Pss_File", 0),
        "private_dirty": sm.get("Private_Dirty", 0),
        "private_clean": sm.get("Private_Clean", 0),
        "anonymous": sm.get("Anonymous", 0),
    }


def threads(pid):
    try:
        return sorted(int(t) for t in os.listdir("/proc/%d/task" % pid))
    except OSError:
        return []


def ctx_switches(pid):
    """(voluntary, involuntary) summed over the live threads."""
    vol = invol = 0
    for tid in threads(pid):
        try:
            st = _kv_kib("/proc/%d/task/%d/status" % (pid, tid))
        except OSError:
            continue
        vol += st.get("voluntary_ctxt_switches", 0)
        invol += st.get("nonvoluntary_ctxt_switches", 0)
    return vol, invol


def cpu(pid):
    """CPU used so far: user and sys seconds (whole process, clock ticks)
    and on-CPU nanoseconds summed over live threads (schedstat)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    minflt, utime, stime = int(fields[7]), int(fields[11]), int(fields[12])
    ns = 0
    for tid in threads(pid):
        try:
            with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
                ns += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return {"user": utime / CLK_TCK, "sys": stime / CLK_TCK, "ns": ns,
            "minflt": minflt}


def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return s[s.rindex(")") + 2]


_SMAPS_HDR = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")


def smaps_by_file(pid):
    """{pathname or [anon]/[heap]/...: {rss, pss, private_dirty, n}} in
    KiB, from /proc/<pid>/smaps."""
    out = {}
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if _SMAPS_HDR.match(line):
                parts = line.split(None, 5)
                name = parts[5].strip() if len(parts) > 5 else "[anon]"
                cur = out.setdefault(name, {"rss": 0, "pss": 0,
                                            "private_dirty": 0, "n": 0})
                cur["n"] += 1
                continue
            k, _, v = line.partition(":")
            v = v.split()
            if cur is None or not v or not v[0].isdigit():
                continue
            if k == "Rss":
                cur["rss"] += int(v[0])
            elif k == "Pss":
                cur["pss"] += int(v[0])
            elif k == "Private_Dirty":
                cur["private_dirty"] += int(v[0])
    return out
