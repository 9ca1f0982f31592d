#!/usr/bin/env python3
"""Loopback proxy-stats source for the agent's proxy-usage bridge tests.

Plays the local HTTP endpoint that `-proxy-usage-url` points at: serves a
configurable body (a Lattice snapshot, a {"snapshot": ...} envelope, or the
Xray/V2Ray `{"stat": [...]}` output) on one path, checks an optional
`Authorization: Bearer <secret>` (401 otherwise), records every request
(headers included, e.g. Accept) and injects the faults of controlplane.py
(delay, status, garbage, huge, redirect, drop, reset, truncate).

    src = StatSource(secret="s3cret").start()
    src.set_xray({"alice": (100, 200)})
    ... agent with -proxy-usage-url src.url_for() ...
    src.wait_requests(src.path, 1, timeout=10)
    src.stop()

Python 3 standard library only.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from controlplane import MiB, RecordingServer, error_body  # noqa: E402


def lattice_snapshot(user_bytes, core_uptime_sec=100, at=None):
    """Format 1: the Lattice snapshot object."""
    d = {"core_uptime_sec": core_uptime_sec, "user_bytes": dict(user_bytes)}
    if at is not None:
        d["at"] = at
    return d


def envelope(user_bytes, core_uptime_sec=100, at=None):
    """Format 2: {"snapshot": {...}}."""
    return {"snapshot": lattice_snapshot(user_bytes, core_uptime_sec, at)}


def xray_stats(users, extra=(), as_strings=False):
    """Format 3: Xray/V2Ray statsquery output.  users maps a user id to
    (uplink, downlink); extra adds raw (name, value) counters such as
    ('inbound>>>api>>>traffic>>>uplink', 5)."""
    stat = []
    for u, (up, down) in users.items():
        for d, v in (("uplink", up), ("downlink", down)):
            stat.append({"name": "user>>>%s>>>traffic>>>%s" % (u, d),
                         "value": str(v) if as_strings else v})
    for name, v in extra:
        stat.append({"name": name, "value": v})
    return {"stat": stat}


class StatSource(RecordingServer):
    """A loopback stats endpoint.  body may be a dict/list (sent as JSON),
    str or bytes; secret=None accepts any request."""

    def __init__(self, host="127.0.0.1", port=0, path="/stats", body=None,
                 secret=None, tls=None, tls_dir=None):
        super().__init__(host, port, tls, tls_dir)
        self.path = path
        self.secret = secret
        self.body = body if body is not None else {}

    def url_for(self, host=None):
        """The URL the agent should fetch; host overrides e.g. 'localhost'."""
        if host is None:
            return self.url + self.path
        return "%s://%s:%d%s" % (self.scheme, host, self.port, self.path)

    def set_body(self, body):
        with self._lock:
            self.body = body

    def set_lattice(self, user_bytes, core_uptime_sec=100, at=None):
        self.set_body(lattice_snapshot(user_bytes, core_uptime_sec, at))

    def set_envelope(self, user_bytes, core_uptime_sec=100, at=None):
        self.set_body(envelope(user_bytes, core_uptime_sec, at))

    def set_xray(self, users, extra=(), as_strings=False):
        self.set_body(xray_stats(users, extra, as_strings))

    def fault(self, path_prefix, kind, count=1, **params):
        if kind == "huge":
            params.setdefault("size", MiB + 1)
        return super().fault(path_prefix, kind, count, **params)

    def _route(self, req, too_large):
        if req.path != self.path:
            return 404, error_body("not_found", req.path, "stats"), {}
        if req.method not in ("GET", "HEAD"):
            return 405, b"", {}
        if self.secret is not None and \
                req.headers.get("authorization") != "Bearer " + self.secret:
            return 401, b'{"error":"unauthorized"}', {}
        with self._lock:
            b = self.body
        if isinstance(b, (dict, list)):
            b = json.dumps(b)
        if isinstance(b, str):
            b = b.encode("utf-8")
        return 200, b, {}
