#!/usr/bin/env python3
"""Test control plane for lattice-agent: a stand-in for lattice-server.

It implements the wire contract of PROTOCOL.md (auth by bearer token and
node id, 1 MiB JSON bodies, task leases without expiry, output limits,
proxy-usage validation, per-IP rate limit, Lattice error bodies), records
every request it receives for assertions, and injects faults on demand so
integration tests can show how the agent survives a failing server.

Python 3 standard library only.  Used two ways:

  * as a module by the integration tests:

        cp = ControlPlane(rate_limit=False)
        cp.start()
        cp.add_node("n1", "tok")
        tid = cp.enqueue_task("n1", script="echo hi")
        ... start the agent with -server cp.url ...
        cp.wait_for(lambda: tid in cp.results, 10, "result of " + tid)
        cp.stop()

  * as a command for the README demo, printing one line per request:

        python3 tests/controlplane/controlplane.py --listen 127.0.0.1:8088 \\
            --node demo-node:demo-token --task sh:'echo hello'

Threads: one accept thread (serve_forever) plus one thread per TCP
connection.  All shared state sits behind one re-entrant lock whose
condition is notified on every recorded event, so tests wait on events with
a deadline instead of sleeping.
"""

import argparse
import datetime
import http.server
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

MiB = 1024 * 1024
KiB = 1024
MAX_BODY = 1 * MiB
OUTPUT_LIMIT_DEFAULT = 64 * KiB
OUTPUT_LIMIT_MAX = 256 * KiB
LEASE_BATCH = 3
MAX_USERS = 4096
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
RFC3339_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?"
    r"([Zz]|[+-]\d{2}:\d{2})\Z")

FAULT_KINDS = ("status", "delay", "drop", "reset", "garbage", "truncate",
               "huge", "body", "redirect")


class BadRequest(Exception):
    """A payload the real server would refuse with 400 bad_request."""


# --- small helpers -------------------------------------------------------

def _reject_constant(name):
    raise ValueError("invalid JSON constant " + name)


def _check_strings(v, depth=0):
    """Refuse lone surrogates anywhere (keys and values): not valid UTF-8."""
    if isinstance(v, str):
        v.encode("utf-8")
    elif isinstance(v, dict):
        for k, x in v.items():
            k.encode("utf-8")
            _check_strings(x, depth + 1)
    elif isinstance(v, list):
        for x in v:
            _check_strings(x, depth + 1)


def parse_json_body(raw):
    """Parse a request body as the Go server would; raise BadRequest."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest("body is not valid UTF-8: %s" % e)
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
        _check_strings(doc)
    except RecursionError:
        raise BadRequest("JSON nested too deeply")
    except UnicodeEncodeError:
        raise BadRequest("JSON string is not valid UTF-8 (lone surrogate)")
    except ValueError as e:
        raise BadRequest("malformed JSON: %s" % e)
    return doc


def utf8_len(s):
    return len(s.encode("utf-8"))


def effective_output_limit(limit):
    if not isinstance(limit, int) or limit <= 0:
        return OUTPUT_LIMIT_DEFAULT
    return min(limit, OUTPUT_LIMIT_MAX)


def tasks_body_many(n, node_id="n"):
    """A JSON task list with n well-formed but unknown tasks (fault tests)."""
    return json.dumps([{"id": "bulk_%d" % i, "lease_id": "lease_bulk_%d" % i,
                        "interpreter": "sh", "script": "true",
                        "timeout_sec": 1, "output_limit": 0}
                       for i in range(n)])


def nested_body(depth):
    """JSON nested `depth` arrays deep (fault tests)."""
    return "[" * depth + "]" * depth


def _now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# --- field validation, as the real server does it ------------------------

def _want_obj(v, name):
    if not isinstance(v, dict):
        raise BadRequest("%s must be an object" % name)
    return v


def _opt_str(d, key, name=None):
    v = d.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise BadRequest("%s must be a string" % (name or key))
    return v


def _opt_int(d, key, lo=None, hi=None, name=None):
    v = d.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest("%s must be an integer" % (name or key))
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise BadRequest("%s out of range" % (name or key))
    return v


def _opt_num(d, key, name=None):
    v = d.get(key)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRequest("%s must be a number" % (name or key))
    return v


def _opt_time(d, key, name=None):
    v = _opt_str(d, key, name)
    if v and not RFC3339_RE.match(v):
        raise BadRequest("%s is not an RFC 3339 time" % (name or key))
    return v


U64 = 2 ** 64 - 1
I64 = 2 ** 63 - 1


def validate_identity(body):
    """The top-level fields shared by hello and metrics."""
    _opt_str(body, "version")
    ip = _opt_str(body, "public_ip")
    if ip:
        try:
            a = ipaddress.IPv4Address(ip)
        except ValueError:
            raise BadRequest("public_ip is not an IPv4 address")
        if not a.is_global:
            raise BadRequest("public_ip is not a public IPv4 address")
    ip6 = _opt_str(body, "public_ipv6")
    if ip6:
        try:
            a6 = ipaddress.IPv6Address(ip6)
        except ValueError:
            raise BadRequest("public_ipv6 is not an IPv6 address")
        if not a6.is_global:
            raise BadRequest("public_ipv6 is not a public IPv6 address")
    wg = _opt_str(body, "wireguard_ip")
    if wg:
        try:
            ipaddress.ip_interface(wg)
        except ValueError:
            raise BadRequest("wireguard_ip is not an IP or CIDR")
    _opt_str(body, "wireguard_public_key")
    _opt_str(body, "wireguard_endpoint")
    _opt_int(body, "wireguard_port", 0, 65535)
    hf = body.get("host_facts")
    if hf is not None:
        validate_host_facts(_want_obj(hf, "host_facts"))


def validate_host_facts(hf):
    for k in ("hostname", "os", "platform", "platform_version",
              "kernel_version", "arch", "cpu_model", "virtualization"):
        _opt_str(hf, k, "host_facts." + k)
    _opt_int(hf, "cpu_cores", 0, I64, "host_facts.cpu_cores")
    for k in ("memory_total", "swap_total"):
        _opt_int(hf, k, 0, U64, "host_facts." + k)
    for k in ("boot_time", "reported_at"):
        _opt_time(hf, k, "host_facts." + k)


def validate_metrics(m):
    for k in ("cpu_percent", "load1", "load5", "load15", "net_rx_speed",
              "net_tx_speed"):
        _opt_num(m, k, "metrics." + k)
    for k in ("memory_used", "memory_total", "disk_used", "disk_total",
              "net_rx_bytes", "net_tx_bytes", "uptime_seconds"):
        _opt_int(m, k, 0, U64, "metrics." + k)
    _opt_time(m, "collected_at", "metrics.collected_at")


def validate_snapshot(s):
    _opt_str(s, "node_id", "snapshot.node_id")
    _opt_time(s, "at", "snapshot.at")
    _opt_int(s, "core_uptime_sec", 0, I64, "snapshot.core_uptime_sec")
    ub = s.get("user_bytes")
    if ub is not None:
        _want_obj(ub, "snapshot.user_bytes")
        if len(ub) > MAX_USERS:
            raise BadRequest("too many users (%d > %d)" % (len(ub),
                             MAX_USERS))
        for uid, v in ub.items():
            if not ID_RE.match(uid):
                raise BadRequest("invalid user id %r" % uid)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0 \
                    or v > I64:
                raise BadRequest("invalid counter for user %r" % uid)
    src = _opt_str(s, "collector_source", "snapshot.collector_source")
    if src and not ID_RE.match(src):
        raise BadRequest("invalid collector_source %r" % src)
    _opt_str(s, "collector_status", "snapshot.collector_status")
    _opt_str(s, "collector_error", "snapshot.collector_error")
    _opt_time(s, "collector_checked_at", "snapshot.collector_checked_at")


# --- records -------------------------------------------------------------

class Request:
    """One request as received.  Attributes are filled at arrival; status,
    fault and response are set once the answer has been sent."""

    __slots__ = ("method", "path", "query", "query_string", "headers",
                 "header_list", "body", "json", "conn_id", "client",
                 "t_mono", "t_wall", "status", "fault", "response",
                 "wire_bytes", "seq", "done")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    @property
    def auth(self):
        return self.headers.get("authorization")

    def __repr__(self):
        return "<%s %s%s status=%s conn=%s%s>" % (
            self.method, self.path,
            "?" + self.query_string if self.query_string else "",
            self.status, self.conn_id,
            " fault=" + self.fault if self.fault else "")


class Fault:
    def __init__(self, prefix, kind, count, params):
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r (one of %s)" %
                             (kind, ", ".join(FAULT_KINDS)))
        self.prefix = prefix
        self.kind = kind
        self.remaining = count      # None: until cleared
        self.params = params
        self.hits = 0

    def __repr__(self):
        return "<Fault %s %s left=%s hits=%d>" % (self.prefix, self.kind,
                                                   self.remaining, self.hits)


# --- TLS material --------------------------------------------------------

class TLSMaterial:
    """Throw-away CAs and server certificates made with the openssl CLI.

    ca_file is the CA tests should trust.  Server certs: 'ok' (trusted CA,
    SAN localhost/127.0.0.1/::1), 'untrusted' (signed by another CA),
    'expired' (trusted CA, notAfter in the past), 'wrong-host' (trusted
    CA, SAN wrong.example/192.0.2.1 only)."""

    VARIANTS = ("ok", "untrusted", "expired", "wrong-host")

    def __init__(self, directory=None):
        self._own = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="lattice-cp-tls-")
        os.makedirs(self.dir, exist_ok=True)
        self.ca_file = os.path.join(self.dir, "ca.pem")
        self.other_ca_file = os.path.join(self.dir, "other-ca.pem")
        self._made = set()
        self._lock = threading.Lock()

    def _ssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), cwd=self.dir,
                           stdin=subprocess.DEVNULL, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" %
                               (args[0], r.stderr.decode(errors="replace")))

    _EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes")

    def _ca(self, name, cn):
        if os.path.exists(os.path.join(self.dir, name + ".pem")):
            return
        self._ssl("req", "-x509", *self._EC, "-keyout", name + ".key",
                  "-out", name + ".pem", "-days", "2", "-subj", "/CN=" + cn,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def cert(self, variant="ok"):
        """Return (certfile, keyfile) for a variant, creating it once."""
        if variant not in self.VARIANTS:
            raise ValueError("unknown TLS variant %r" % variant)
        with self._lock:
            self._ca("ca", "lattice test CA")
            name = "server-" + variant
            crt = os.path.join(self.dir, name + ".pem")
            key = os.path.join(self.dir, name + ".key")
            if variant in self._made:
                return crt, key
            ca, days = "ca", "2"
            san = "DNS:localhost,IP:127.0.0.1,IP:::1"
            if variant == "untrusted":
                self._ca("other-ca", "lattice untrusted CA")
                ca = "other-ca"
            elif variant == "expired":
                days = "-1"
            elif variant == "wrong-host":
                san = "DNS:wrong.example,IP:192.0.2.1"
            ext = os.path.join(self.dir, name + ".ext")
            with open(ext, "w") as f:
                f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                        "keyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=serverAuth\n" % san)
            self._ssl("req", "-new", *self._EC, "-keyout", name + ".key",
                      "-out", name + ".csr", "-subj", "/CN=localhost")
            self._ssl("x509", "-req", "-in", name + ".csr", "-CA",
                      ca + ".pem", "-CAkey", ca + ".key", "-set_serial",
                      str(random.getrandbits(63)), "-days", days,
                      "-out", name + ".pem", "-extfile", ext)
            self._made.add(variant)
            return crt, key

    def server_context(self, variant="ok"):
        crt, key = self.cert(variant)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        return ctx

    def client_context(self):
        """An ssl context trusting only ca_file, for tests' own clients."""
        self.cert("ok")
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx

    def cleanup(self):
        if self._own:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- generic recording HTTP server --------------------------------------

class _Listener(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, owner):
        self.owner = owner
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, _Handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.owner._ssl_ctx is not None:
            sock = self.owner._ssl_ctx.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        # Clients hanging up mid-answer is a normal event in fault tests.
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lattice-test-cp"
    sys_version = ""

    def setup(self):
        owner = self.server.owner
        self.owner = owner
        self.conn_id, alive = owner._new_conn(self.request,
                                              self.client_address,
                                              self.server)
        self._dead = not alive
        self._req = None
        if alive and isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError) as e:
                owner._tls_failed(self.conn_id, e)
                self._dead = True
            self.request.settimeout(None)
        super().setup()

    def handle(self):
        if self._dead:
            return
        try:
            super().handle()
        except (OSError, ssl.SSLError, ValueError):
            # ValueError: the fault closed the files under the base class.
            pass

    def finish(self):
        try:
            super().finish()
        except (OSError, ssl.SSLError):
            pass
        self.owner._conn_closed(self.conn_id, self.request)

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    # body reading: Content-Length or chunked, capped

    def _read_body(self, cap):
        """Return (body, too_large).  Keeps the connection usable when the
        body was read through; marks it to close otherwise."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            too = False
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    self.close_connection = True
                    return bytes(out), too
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    return bytes(out), too
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    return bytes(out), too
                total += n
                if total > 64 * MiB:
                    self.close_connection = True
                    return bytes(out), True
                chunk = self.rfile.read(n)
                self.rfile.readline(8)
                if len(out) + len(chunk) > cap:
                    too = True
                else:
                    out += chunk
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b"", False
        try:
            n = int(cl)
            if n < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            return b"", True
        if n <= cap:
            return self.rfile.read(n), False
        # Too large: drain what is reasonable so the client reads our 400.
        if n <= 64 * MiB:
            head = self.rfile.read(cap + 1)
            left = n - len(head)
            while left > 0:
                b = self.rfile.read(min(left, 1 << 16))
                if not b:
                    break
                left -= len(b)
            return head, True
        self.close_connection = True
        return b"", True

    def _dispatch(self):
        owner = self.owner
        t_mono = time.monotonic()
        t_wall = time.time()
        u = urllib.parse.urlsplit(self.path)
        qs = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        header_list = [(k.lower(), v) for k, v in self.headers.items()]
        headers = {}
        for k, v in header_list:
            headers[k] = headers[k] + ", " + v if k in headers else v
        body, too_large = self._read_body(owner.max_body)
        wire = len(self.raw_requestline) + 2 + len(body) + sum(
            len(k) + len(v) + 4 for k, v in header_list)
        doc = None
        if body and not too_large:
            try:
                doc = json.loads(body.decode("utf-8"))
            except (ValueError, RecursionError):
                doc = None
        req = Request(method=self.command, path=u.path,
                      query={k: v[0] for k, v in qs.items()},
                      query_string=u.query, headers=headers,
                      header_list=header_list, body=body, json=doc,
                      conn_id=self.conn_id, client=self.client_address,
                      t_mono=t_mono, t_wall=t_wall, wire_bytes=wire,
                      done=False)
        owner._record(req)
        self._req = req
        fault = owner._take_fault(u.path)
        status, out, extra = None, b"", {}
        try:
            if fault is None or fault.params.get("process") or \
                    fault.kind == "delay":
                if fault is not None and fault.kind == "delay":
                    req.fault = "delay"
                    if owner._stop_evt.wait(fault.params.get("seconds", 5)):
                        # stopped while "working": die without answering
                        self._hard_close(False)
                        return
                status, out, extra = owner._handle(req, too_large)
            if fault is not None and fault.kind != "delay":
                req.fault = fault.kind
                self._apply_fault(fault, req)
            elif status is not None:
                self._send(status, out, extra)
        except (OSError, ssl.SSLError):
            self.close_connection = True
        finally:
            self._settle(None, b"")

    def _settle(self, status, body):
        """Finish the record before the first byte of the answer leaves, so
        a client that has its answer always sees the request recorded."""
        req, self._req = self._req, None
        if req is not None:
            self.owner._finish(req, status, body)

    def _send(self, status, body, headers=None, ctype="application/json",
              length=None):
        self._settle(status, body)
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length",
                         str(len(body) if length is None else length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _hard_close(self, reset):
        """Close the TCP connection now; with reset, by RST (SO_LINGER 0)."""
        self.close_connection = True
        self._settle(None, b"")
        sock = self.request
        try:
            self.wfile.flush()
        except (OSError, ssl.SSLError):
            pass
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except (OSError, ssl.SSLError):
                pass
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            sock.close()
        except OSError:
            pass
        self._dead = True

    def _apply_fault(self, fault, req):
        p = fault.params
        k = fault.kind
        if k == "status":
            st = p.get("status", 500)
            hdrs = {}
            if p.get("retry_after") is not None:
                hdrs["Retry-After"] = p["retry_after"]
            body = p.get("body")
            if body is None:
                body = error_body(p.get("code", _default_code(st)),
                                  p.get("message", "injected fault"),
                                  self.owner._request_id())
            self._send(st, _b(body), hdrs)
            return st
        if k == "drop":
            self._hard_close(False)
            return None
        if k == "reset":
            self._hard_close(True)
            return None
        if k == "garbage":
            body = _b(p.get("body", b"\x00\xffgarbage{{{<html>not json"))
            self._send(p.get("status", 200), body)
            return p.get("status", 200)
        if k == "truncate":
            body = _b(p.get("body", b'[{"id":"task_trunc","lease_id":"l'))
            self.close_connection = True
            self._send(200, body, length=len(body) + p.get("missing", 100))
            self._hard_close(False)
            return 200
        if k == "huge":
            size = p.get("size", 4 * MiB + 1)
            self.close_connection = True
            self._settle(p.get("status", 200), b"(huge)")
            self.send_response(p.get("status", 200))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(size))
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"[" + b" " * (65535)
            left = size
            first = True
            while left > 0:
                c = chunk if first else b" " * 65536
                first = False
                self.wfile.write(c[:left])
                left -= min(left, len(c))
            self.wfile.flush()
            return p.get("status", 200)
        if k == "body":
            st = p.get("status", 200)
            self._send(st, _b(p.get("body", "")),
                       ctype=p.get("content_type", "application/json"))
            return st
        if k == "redirect":
            st = p.get("status", 302)
            loc = p.get("location", "http://127.0.0.2:1/")
            if p.get("keep_path", True) and loc.endswith("/"):
                loc = loc.rstrip("/") + self.path
            self._send(st, b"", {"Location": loc}, ctype=None)
            return st
        raise AssertionError(k)


def _b(x):
    return x.encode("utf-8") if isinstance(x, str) else bytes(x)


def _default_code(status):
    return {400: "bad_request", 401: "invalid_node_token",
            403: "invalid_task_lease", 404: "not_found",
            429: "rate_limited"}.get(status,
                                     "internal_error" if status >= 500
                                     else "error")


def error_body(code, message, request_id):
    return json.dumps({"error": {"code": code, "message": message,
                                 "request_id": request_id}},
                      separators=(",", ":")).encode()


class RecordingServer:
    """Threaded HTTP/1.1 server that records requests and injects faults.

    Subclasses implement _route(req, too_large) -> (status, body, headers).
    """

    max_body = MAX_BODY

    def __init__(self, host="127.0.0.1", port=0, tls=None, tls_dir=None):
        if tls is True:
            tls = "ok"
        self.host = host
        self.port = port
        self.tls = tls
        self.tls_material = None
        self.ca_file = None
        self._ssl_ctx = None
        if tls:
            self.tls_material = TLSMaterial(tls_dir)
            self._ssl_ctx = self.tls_material.server_context(tls)
            self.ca_file = self.tls_material.ca_file
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._reqs = []
        self._faults = []
        self._conns = {}            # conn_id -> socket, while open
        self._threads = set()
        self.connections = []      # dicts: conn_id, client, opened, closed
        self.tls_errors = []       # dicts: conn_id, error
        self._next_conn = 0
        self._next_reqid = 0
        self._srv = None
        self._thread = None
        self._stop_evt = threading.Event()
        self.on_request = None     # callback(req) after each answer

    # lifecycle

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        host = self.host if ":" not in self.host else "[%s]" % self.host
        return "%s://%s:%d" % (self.scheme, host, self.port)

    @property
    def running(self):
        return self._srv is not None

    def start(self):
        if self._srv is not None:
            return self
        self._stop_evt = threading.Event()
        srv = _Listener((self.host, self.port), self)
        self.port = srv.server_address[1]
        self._srv = srv
        self._thread = threading.Thread(target=srv.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="cp-accept", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop accepting, close every open connection, wait for handlers.
        Connections to the port are refused until restart()."""
        srv = self._srv
        if srv is None:
            return
        with self._lock:
            self._srv = None
        srv.shutdown()
        srv.server_close()
        with self._lock:
            socks = list(self._conns.values())
            threads = list(self._threads)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._stop_evt.set()
        deadline = time.monotonic() + 5
        for t in threads:
            t.join(max(0, deadline - time.monotonic()))
        self._thread.join(5)

    def restart(self):
        """Stop (if running) and listen again on the same port."""
        self.stop()
        return self.start()

    down = stop
    up = start

    def close(self):
        self.stop()
        if self.tls_material is not None:
            self.tls_material.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # connection bookkeeping (called from handler threads)

    def _new_conn(self, sock, client, listener):
        """Register a connection; not alive if its listener was stopped
        before the handler thread got here."""
        with self._cond:
            self._next_conn += 1
            cid = self._next_conn
            self._conns[cid] = sock
            self._threads.add(threading.current_thread())
            self.connections.append({"conn_id": cid, "client": client,
                                     "opened": time.monotonic(),
                                     "closed": None, "requests": 0,
                                     "tls_error": None})
            self._cond.notify_all()
            return cid, self._srv is listener

    def _conn_closed(self, cid, sock):
        with self._cond:
            self._conns.pop(cid, None)
            self._threads.discard(threading.current_thread())
            for c in self.connections:
                if c["conn_id"] == cid:
                    c["closed"] = time.monotonic()
            self._cond.notify_all()

    def _tls_failed(self, cid, err):
        with self._cond:
            self.tls_errors.append({"conn_id": cid, "error": str(err),
                                    "t_mono": time.monotonic()})
            for c in self.connections:
                if c["conn_id"] == cid:
                    c["tls_error"] = str(err)
            self._cond.notify_all()

    def _request_id(self):
        with self._lock:
            self._next_reqid += 1
            return "req_%06d" % self._next_reqid

    def _record(self, req):
        with self._cond:
            req.seq = len(self._reqs)
            self._reqs.append(req)
            for c in reversed(self.connections):
                if c["conn_id"] == req.conn_id:
                    c["requests"] += 1
                    break
            self._cond.notify_all()

    def _finish(self, req, status, body):
        with self._cond:
            req.status = status
            req.response = body[:4096] if body else b""
            req.done = True
            self._cond.notify_all()
        cb = self.on_request
        if cb is not None:
            try:
                cb(req)
            except Exception as e:      # a printer must not kill a test
                print("on_request callback failed: %r" % e, file=sys.stderr)

    def _handle(self, req, too_large):
        return self._route(req, too_large)

    def _route(self, req, too_large):
        raise NotImplementedError

    # faults

    def fault(self, path_prefix, kind, count=1, **params):
        """Inject `kind` on the next `count` requests whose path starts with
        path_prefix (count=None: until clear_faults()).  Kinds and params:

          status   status=500, code=, message=, retry_after=None, body=None
          delay    seconds=5 (then answers normally; cut short by stop())
          drop     close the connection without answering
          reset    close with RST (SO_LINGER 0)
          garbage  body=b'...' status=200
          truncate body=..., missing=100 (Content-Length larger than sent)
          huge     size=4 MiB + 1, status=200
          body     body=text, status=200, content_type=application/json
          redirect status=302, location='http://127.0.0.2:1/', keep_path=True

        process=True first lets the server handle the request (side effects,
        e.g. a task result is stored) and then answers with the fault."""
        f = Fault(path_prefix, kind, count, params)
        with self._lock:
            self._faults.append(f)
        return f

    def clear_faults(self):
        with self._lock:
            self._faults = []

    def _take_fault(self, path):
        with self._lock:
            for f in self._faults:
                if path.startswith(f.prefix) and f.remaining != 0:
                    if f.remaining is not None:
                        f.remaining -= 1
                    f.hits += 1
                    return f
        return None

    # observation

    def requests(self, path=None, method=None):
        """Snapshot of recorded requests, optionally filtered by exact path
        (or path prefix ending in '*') and method."""
        with self._lock:
            out = list(self._reqs)
        if path is not None:
            if path.endswith("*"):
                out = [r for r in out if r.path.startswith(path[:-1])]
            else:
                out = [r for r in out if r.path == path]
        if method is not None:
            out = [r for r in out if r.method == method]
        return out

    def refused_connections(self):
        """Closed connections that never carried a request: the client gave
        up during or right after the TLS handshake (curl checks the host
        name after the handshake, so a wrong-host refusal shows only here,
        while an untrusted or expired certificate also lands in
        tls_errors)."""
        with self._lock:
            return [dict(c) for c in self.connections
                    if c["closed"] is not None and c["requests"] == 0]

    def intervals(self, path):
        """Seconds between consecutive arrivals of requests to path."""
        ts = [r.t_mono for r in self.requests(path)]
        return [b - a for a, b in zip(ts, ts[1:])]

    def wait_for(self, predicate, timeout=10, what="condition"):
        """Wait until predicate() is true, re-checking on every recorded
        event.  Returns its value; raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = predicate()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        "timed out after %.1fs waiting for %s; last "
                        "requests: %s" % (timeout, what,
                                          self._reqs[-8:]))
                self._cond.wait(left)

    def wait_requests(self, path, count=1, timeout=10, done=True,
                      status=None):
        """Wait until `count` requests to `path` (see requests()) have been
        answered (done=False: arrived); returns them."""
        def pred():
            rs = [r for r in self.requests(path)
                  if (r.done or not done) and
                  (status is None or r.status == status)]
            return rs if len(rs) >= count else None
        return self.wait_for(pred, timeout, "%d request(s) to %s%s" % (
            count, path, "" if status is None else " status %d" % status))

    def wait_event(self, timeout):
        """Block until any event is recorded or timeout passes."""
        with self._cond:
            self._cond.wait(timeout)


# --- the control plane ---------------------------------------------------

class ControlPlane(RecordingServer):
    """The Lattice control plane stand-in.  See module doc."""

    def __init__(self, host="127.0.0.1", port=0, tls=None, tls_dir=None,
                 rate_limit=False, rate=10.0, burst=40, seed=None,
                 strict_content_type=True):
        super().__init__(host, port, tls, tls_dir)
        self.rate_limit = rate_limit
        self.rate = rate
        self.burst = burst
        self.strict_content_type = strict_content_type
        self.healthy = True
        self._rng = random.Random(seed)
        self._buckets = {}
        self.nodes = {}            # node_id -> dict(token, proxy_profile)
        self.tasks = {}            # task_id -> dict
        self.results = {}          # task_id -> accepted result dict
        self.usage = {}            # node_id -> [snapshot, ...]
        self.host_facts = {}       # node_id -> last non-empty host_facts
        self.hellos = {}           # node_id -> last hello body
        self.heartbeats = {}       # node_id -> [metrics body, ...]
        self._next_task = 0

    # nodes and tasks

    def add_node(self, node_id, token, proxy_profile=True):
        with self._lock:
            self.nodes[node_id] = {"token": token,
                                   "proxy_profile": proxy_profile}

    def set_token(self, node_id, token):
        with self._lock:
            self.nodes[node_id]["token"] = token

    def remove_node(self, node_id):
        with self._lock:
            self.nodes.pop(node_id, None)

    def set_proxy_profile(self, node_id, on):
        with self._lock:
            self.nodes[node_id]["proxy_profile"] = on

    def enqueue_task(self, node_id, interpreter="sh", script="echo hi",
                     timeout_sec=30, output_limit=0, task_id=None):
        with self._cond:
            if task_id is None:
                self._next_task += 1
                task_id = "task_%d" % self._next_task
            self.tasks[task_id] = {
                "id": task_id, "node_id": node_id,
                "interpreter": interpreter, "script": script,
                "timeout_sec": timeout_sec, "output_limit": output_limit,
                "state": "queued", "lease_id": None}
            self._cond.notify_all()
            return task_id

    def leased(self, node_id):
        with self._lock:
            return sorted(t["id"] for t in self.tasks.values()
                          if t["node_id"] == node_id and
                          t["state"] == "leased")

    def queued(self, node_id):
        with self._lock:
            return sorted(t["id"] for t in self.tasks.values()
                          if t["node_id"] == node_id and
                          t["state"] == "queued")

    def lease_of(self, task_id):
        with self._lock:
            return self.tasks[task_id]["lease_id"]

    # routing

    def _err(self, status, code, message, headers=None):
        return status, error_body(code, message, self._request_id()), \
            headers or {}

    def _rate_ok(self, ip):
        if not self.rate_limit:
            return True
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(ip, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            ok = tokens >= 1.0
            if ok:
                tokens -= 1.0
            self._buckets[ip] = (tokens, now)
            return ok

    def _auth(self, req, node_id):
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return None
        token = auth[7:]
        with self._lock:
            for nid, n in self.nodes.items():
                if n["token"] == token and token:
                    return nid if nid == node_id else None
        return None

    ROUTES = {
        ("POST", "/api/agent/hello"): "_hello",
        ("POST", "/api/agent/metrics"): "_metrics",
        ("POST", "/api/agent/proxy-usage"): "_proxy_usage",
        ("POST", "/api/agent/task-result"): "_task_result",
        ("GET", "/api/agent/tasks"): "_tasks",
    }

    def _route(self, req, too_large):
        if not self._rate_ok(req.client[0]):
            return self._err(429, "rate_limited", "too many requests")
        if req.path == "/api/health":
            if req.method != "GET":
                return self._err(405, "method_not_allowed", req.method)
            if not self.healthy:
                return self._err(503, "unhealthy", "database unavailable")
            return 200, b'{"status":"ok"}', {}
        name = self.ROUTES.get((req.method, req.path))
        if name is None:
            if any(p == req.path for _, p in self.ROUTES):
                return self._err(405, "method_not_allowed", req.method)
            return self._err(404, "not_found", "no route " + req.path)
        body = None
        try:
            if req.method == "POST":
                if too_large:
                    raise BadRequest("request body too large")
                ct = req.headers.get("content-type", "")
                if self.strict_content_type and \
                        ct.split(";")[0].strip().lower() != \
                        "application/json":
                    raise BadRequest("Content-Type must be "
                                     "application/json, got %r" % ct)
                body = _want_obj(parse_json_body(req.body), "body")
                node_id = body.get("node_id")
                if not isinstance(node_id, str):
                    node_id = None
            else:
                node_id = req.query.get("node_id")
            nid = self._auth(req, node_id)
            if nid is None:
                return self._err(401, "invalid_node_token",
                                 "invalid node token")
            return getattr(self, name)(req, nid, body)
        except BadRequest as e:
            return self._err(400, "bad_request", str(e))

    def _ok(self):
        return 200, b'{"ok":true}', {}

    def _hello(self, req, nid, body):
        validate_identity(body)
        with self._lock:
            self.hellos[nid] = body
            if body.get("host_facts"):
                self.host_facts[nid] = body["host_facts"]
        return self._ok()

    def _metrics(self, req, nid, body):
        validate_identity(body)
        validate_metrics(_want_obj(body.get("metrics"), "metrics"))
        with self._lock:
            self.heartbeats.setdefault(nid, []).append(body)
            if body.get("host_facts"):
                self.host_facts[nid] = body["host_facts"]
        return self._ok()

    def _proxy_usage(self, req, nid, body):
        snap = _want_obj(body.get("snapshot"), "snapshot")
        validate_snapshot(snap)
        with self._lock:
            if not self.nodes[nid]["proxy_profile"]:
                raise BadRequest("node has no proxy profile")
            self.usage.setdefault(nid, []).append(snap)
        return self._ok()

    def _tasks(self, req, nid, body):
        with self._lock:
            q = [t for t in self.tasks.values()
                 if t["node_id"] == nid and t["state"] == "queued"]
            batch = self._rng.sample(q, min(LEASE_BATCH, len(q)))
            out = []
            for t in batch:
                t["state"] = "leased"
                t["lease_id"] = "lease_%016x" % self._rng.getrandbits(64)
                t["leased_at"] = time.monotonic()
                out.append({k: t[k] for k in ("id", "lease_id",
                                              "interpreter", "script",
                                              "timeout_sec",
                                              "output_limit")})
        return 200, json.dumps(out, separators=(",", ":")).encode(), {}

    def _task_result(self, req, nid, body):
        r = _want_obj(body.get("result"), "result")
        tid = _opt_str(r, "task_id", "result.task_id")
        lid = _opt_str(r, "lease_id", "result.lease_id")
        rnid = _opt_str(r, "node_id", "result.node_id")
        if rnid and rnid != nid:
            raise BadRequest("result.node_id does not match node_id")
        _opt_int(r, "exit_code", -(2 ** 31), 2 ** 31 - 1, "result.exit_code")
        for k in ("stdout", "stderr", "error"):
            _opt_str(r, k, "result." + k)
        for k in ("started_at", "finished_at"):
            _opt_time(r, k, "result." + k)
        with self._lock:
            t = self.tasks.get(tid)
            if t is None or t["node_id"] != nid or t["state"] != "leased" \
                    or t["lease_id"] != lid:
                return self._err(403, "invalid_task_lease",
                                 "task is not leased to this node")
            lim = effective_output_limit(t["output_limit"])
            for k in ("stdout", "stderr", "error"):
                if utf8_len(r.get(k) or "") > lim:
                    return self._err(400, "task_output_limit_exceeded",
                                     "%s exceeds %d bytes" % (k, lim))
            t["state"] = "done"
            self.results[tid] = r
        return self._ok()


# --- CLI -----------------------------------------------------------------

def _summary(req):
    d = req.json if isinstance(req.json, dict) else {}
    p = req.path if d or req.method == "GET" else ""
    parts = []
    if p == "/api/agent/hello":
        parts.append("node=%s version=%s" % (d.get("node_id"),
                                             d.get("version")))
        parts.append("host_facts=%s" % ("yes" if d.get("host_facts")
                                        else "no"))
    elif p == "/api/agent/metrics":
        m = d.get("metrics") or {}
        if isinstance(m, dict):
            try:
                parts.append("cpu=%.1f%% mem=%d/%dMiB load1=%.2f" % (
                    m.get("cpu_percent", 0), m.get("memory_used", 0) // MiB,
                    m.get("memory_total", 0) // MiB, m.get("load1", 0)))
            except (TypeError, ValueError):
                parts.append("metrics=?")
        parts.append("host_facts=%s" % ("yes" if d.get("host_facts")
                                        else "no"))
    elif p == "/api/agent/tasks":
        try:
            got = json.loads(req.response or b"[]")
            parts.append("leased=%d%s" % (len(got), "".join(
                " " + t["id"] for t in got)))
        except (ValueError, TypeError, KeyError):
            pass
    elif p == "/api/agent/task-result":
        r = d.get("result") or {}
        if isinstance(r, dict):
            out = (r.get("stdout") or "")
            parts.append("task=%s exit=%s stdout=%r%s" % (
                r.get("task_id"), r.get("exit_code"), out[:60],
                " error=%r" % r["error"][:60] if r.get("error") else ""))
    elif p == "/api/agent/proxy-usage":
        s = d.get("snapshot") or {}
        if isinstance(s, dict):
            parts.append("source=%s status=%s users=%d" % (
                s.get("collector_source"), s.get("collector_status"),
                len(s.get("user_bytes") or {})))
    if req.status is not None and req.status >= 400:
        try:
            e = json.loads(req.response)["error"]
            parts.append("error=%s (%s)" % (e["code"], e["message"]))
        except (ValueError, TypeError, KeyError):
            pass
    if req.fault:
        parts.append("fault=" + req.fault)
    return " ".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Lattice test control plane (prints one line per "
        "request).")
    ap.add_argument("--listen", default="127.0.0.1:8088",
                    help="host:port (default %(default)s)")
    ap.add_argument("--node", action="append", default=[],
                    metavar="ID:TOKEN", help="register a node (repeatable)")
    ap.add_argument("--task", action="append", default=[],
                    metavar="INTERP:SCRIPT",
                    help="queue a task for the first node (repeatable)")
    ap.add_argument("--tls-dir", metavar="DIR",
                    help="serve https; write the CA to DIR/ca.pem")
    ap.add_argument("--rate-limit", action="store_true",
                    help="enable the 10 req/s, burst 40 per-IP limit")
    ap.add_argument("--exit-after", type=int, default=0, metavar="N",
                    help="exit after N requests")
    a = ap.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    cp = ControlPlane(host=host, port=int(port),
                      tls="ok" if a.tls_dir else None, tls_dir=a.tls_dir,
                      rate_limit=a.rate_limit)
    for n in a.node:
        nid, sep, tok = n.partition(":")
        if not sep or not nid or not tok:
            ap.error("--node wants ID:TOKEN")
        cp.add_node(nid, tok)
    for t in a.task:
        interp, sep, script = t.partition(":")
        if not sep or not a.node:
            ap.error("--task wants INTERP:SCRIPT and a --node")
        tid = cp.enqueue_task(a.node[0].partition(":")[0],
                              interpreter=interp, script=script)
        print("queued %s (%s) for %s" % (tid, interp,
                                         a.node[0].partition(":")[0]),
              flush=True)
    done = threading.Event()
    count = [0]

    def show(req):
        count[0] += 1
        print("%s %-4s %-24s %s %s" % (
            time.strftime("%H:%M:%S", time.localtime(req.t_wall)),
            req.method, req.path, req.status if req.status else "-",
            _summary(req)), flush=True)
        if a.exit_after and count[0] >= a.exit_after:
            done.set()

    cp.on_request = show
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: done.set())
    cp.start()
    print("control plane listening on %s%s" % (
        cp.url, " (CA: %s)" % cp.ca_file if cp.ca_file else ""), flush=True)
    done.wait()
    cp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
