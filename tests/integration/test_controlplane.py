#!/usr/bin/env python3
"""Self-tests of the test control plane and stats source: if these servers
lie, every integration test built on them lies too.  Plain http.client and
ssl clients stand in for the agent."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from controlplane import (ControlPlane, MiB, KiB, nested_body,  # noqa: E402
                          tasks_body_many)
from statsource import StatSource  # noqa: E402

NODE, TOKEN = "n1", "tok-1"
AUTH = {"Authorization": "Bearer " + TOKEN,
        "Content-Type": "application/json"}


def hello_body(**kw):
    d = {"node_id": NODE, "version": "0.1.0", "public_ip": "",
         "public_ipv6": "", "wireguard_ip": "", "wireguard_public_key": "",
         "wireguard_endpoint": "", "wireguard_port": 0}
    d.update(kw)
    return d


def metrics_body(**kw):
    d = hello_body()
    d["metrics"] = {"cpu_percent": 3.5, "load1": 0.1, "load5": 0.1,
                    "load15": 0.05, "memory_used": 1, "memory_total": 2,
                    "disk_used": 1, "disk_total": 2, "net_rx_bytes": 1,
                    "net_tx_bytes": 2, "net_rx_speed": 0, "net_tx_speed": 0,
                    "uptime_seconds": 9,
                    "collected_at": "2026-06-14T12:00:00.123Z"}
    d.update(kw)
    return d


class Base(unittest.TestCase):
    cp_kwargs = {}

    def setUp(self):
        self.cp = ControlPlane(**dict({"rate_limit": False, "seed": 1},
                                      **self.cp_kwargs))
        self.addCleanup(self.cp.close)
        self.cp.start()
        self.cp.add_node(NODE, TOKEN)
        self.cp.add_node("n2", "tok-2")
        self.conn = self.connect()
        self.addCleanup(self.conn.close)

    def connect(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.cp.port,
                                          timeout=timeout)

    def call(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        c.request(method, path, body=body,
                  headers=AUTH if headers is None else headers)
        r = c.getresponse()
        data = r.read()
        doc = None
        try:
            doc = json.loads(data)
        except ValueError:
            pass
        return r.status, doc, r

    def post(self, path, body, **kw):
        return self.call("POST", path, body, **kw)

    def assert_error(self, status, doc, want_status, code):
        self.assertEqual(status, want_status, doc)
        self.assertEqual(set(doc), {"error"})
        self.assertEqual(set(doc["error"]), {"code", "message",
                                             "request_id"})
        self.assertEqual(doc["error"]["code"], code)
        self.assertTrue(doc["error"]["request_id"])

    def lease(self, node=NODE, token=TOKEN):
        st, doc, _ = self.call("GET", "/api/agent/tasks?node_id=" + node,
                               headers={"Authorization": "Bearer " + token})
        self.assertEqual(st, 200, doc)
        return doc

    def result(self, task, lease, node=NODE, **kw):
        r = {"task_id": task, "lease_id": lease, "node_id": node,
             "exit_code": 0, "stdout": "", "stderr": "", "error": "",
             "started_at": "2026-06-14T12:00:00Z",
             "finished_at": "2026-06-14T12:00:01Z"}
        r.update(kw)
        return {"node_id": node, "result": r}


class TestAuthAndBodies(Base):
    def test_health_needs_no_auth(self):
        st, doc, _ = self.call("GET", "/api/health", headers={})
        self.assertEqual((st, doc), (200, {"status": "ok"}))
        self.cp.healthy = False
        st, doc, _ = self.call("GET", "/api/health", headers={})
        self.assertEqual(st, 503)

    def test_auth(self):
        cases = [
            ({"Content-Type": "application/json"}, NODE),
            ({"Authorization": "Bearer nope",
              "Content-Type": "application/json"}, NODE),
            ({"Authorization": "tok-1", "Content-Type": "application/json"},
             NODE),
            # n2's token for n1's node id
            ({"Authorization": "Bearer tok-2",
              "Content-Type": "application/json"}, NODE),
            (AUTH, "n2"),
            (AUTH, "ghost"),
        ]
        for hdrs, node in cases:
            st, doc, _ = self.post("/api/agent/hello",
                                   hello_body(node_id=node), headers=hdrs)
            self.assert_error(st, doc, 401, "invalid_node_token")
        st, doc, _ = self.call("GET", "/api/agent/tasks?node_id=n2")
        self.assert_error(st, doc, 401, "invalid_node_token")
        st, doc, _ = self.call("GET", "/api/agent/tasks")
        self.assert_error(st, doc, 401, "invalid_node_token")
        st, doc, _ = self.post("/api/agent/hello", hello_body())
        self.assertEqual((st, doc), (200, {"ok": True}))
        self.cp.set_token(NODE, "rotated")
        st, doc, _ = self.post("/api/agent/hello", hello_body())
        self.assert_error(st, doc, 401, "invalid_node_token")

    def test_malformed_bodies(self):
        bad = [b"{", b'{"node_id":"n1"} {}', b'{"node_id":"n1"}x',
               b"[1]", b"", b'{"node_id":"n1","x":NaN}',
               b'{"node_id":"n1","x":"\\ud800"}',
               b'{"node_id":"n1","x":"\xff"}',
               nested_body(5000).encode()]
        for b in bad:
            st, doc, _ = self.post("/api/agent/hello", b)
            self.assert_error(st, doc, 400, "bad_request")
        st, _, _ = self.post("/api/agent/hello",
                             json.dumps(hello_body()) + " \n")
        self.assertEqual(st, 200)
        st, doc, _ = self.post("/api/agent/hello", hello_body(), headers={
            "Authorization": "Bearer " + TOKEN,
            "Content-Type": "text/plain"})
        self.assert_error(st, doc, 400, "bad_request")
        st, _, _ = self.post("/api/agent/hello", hello_body(), headers={
            "Authorization": "Bearer " + TOKEN,
            "Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(st, 200)

    def test_body_cap_is_one_mib(self):
        base = json.dumps(hello_body(pad=""))
        exact = base.replace('"pad": ""', '"pad": "%s"' %
                             ("x" * (MiB - len(base))))
        self.assertEqual(len(exact), MiB)
        st, _, _ = self.post("/api/agent/hello", exact)
        self.assertEqual(st, 200)
        over = exact.replace('"pad": "', '"pad": "x')
        st, doc, _ = self.post("/api/agent/hello", over)
        self.assert_error(st, doc, 400, "bad_request")
        # the connection survives a refused large body
        st, _, _ = self.post("/api/agent/hello", hello_body())
        self.assertEqual(st, 200)
        self.assertEqual(len({r.conn_id for r in self.cp.requests()}), 1)

    def test_chunked_bodies(self):
        body = json.dumps(hello_body(pad="x" * 1000)).encode()
        chunks = [body[i:i + 300] for i in range(0, len(body), 300)]
        self.conn.request("POST", "/api/agent/hello", body=iter(chunks),
                          headers=AUTH, encode_chunked=True)
        r = self.conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        self.assertEqual(self.cp.requests()[-1].body, body)
        big = iter([b"x" * 65536] * 17)      # 1 MiB + 64 KiB
        self.conn.request("POST", "/api/agent/hello", body=big,
                          headers=AUTH, encode_chunked=True)
        r = self.conn.getresponse()
        r.read()
        self.assertEqual(r.status, 400)
        self.assertEqual(self.post("/api/agent/hello", hello_body())[0], 200)

    def test_hello_and_metrics_validation(self):
        good = [hello_body(public_ip="8.8.8.8"),
                hello_body(public_ipv6="2001:4860:4860::8888"),
                hello_body(wireguard_ip="10.8.0.2/24", wireguard_port=51820),
                hello_body(wireguard_ip="fd00::2"),
                hello_body(extra_unknown={"a": 1})]
        for b in good:
            st, doc, _ = self.post("/api/agent/hello", b)
            self.assertEqual(st, 200, (b, doc))
        bad = [hello_body(public_ip="10.0.0.1"),
               hello_body(public_ip="127.0.0.1"),
               hello_body(public_ip="2001:db8::1"),
               hello_body(public_ip="1.2.3"),
               hello_body(public_ipv6="fd00::1"),
               hello_body(public_ipv6="8.8.8.8"),
               hello_body(wireguard_ip="nope"),
               hello_body(wireguard_port=65536),
               hello_body(wireguard_port=-1),
               hello_body(wireguard_port="51820"),
               hello_body(wireguard_port=1.5),
               hello_body(version=1),
               hello_body(host_facts=[]),
               hello_body(host_facts={"cpu_cores": "2"}),
               hello_body(host_facts={"boot_time": "yesterday"})]
        for b in bad:
            st, doc, _ = self.post("/api/agent/hello", b)
            self.assert_error(st, doc, 400, "bad_request")
        for b in [metrics_body(metrics=None),
                  metrics_body(metrics={"memory_used": -1}),
                  metrics_body(metrics={"cpu_percent": "3"}),
                  metrics_body(metrics={"collected_at": "12:00"})]:
            st, doc, _ = self.post("/api/agent/metrics", b)
            self.assert_error(st, doc, 400, "bad_request")

    def test_host_facts_kept_when_absent(self):
        facts = {"hostname": "h", "os": "linux", "cpu_cores": 2,
                 "reported_at": "2026-06-14T12:00:00Z"}
        self.assertEqual(self.post("/api/agent/hello",
                                   hello_body(host_facts=facts))[0], 200)
        self.assertEqual(self.post("/api/agent/metrics",
                                   metrics_body())[0], 200)
        self.assertEqual(self.post("/api/agent/metrics",
                                   metrics_body(host_facts={}))[0], 200)
        self.assertEqual(self.cp.host_facts[NODE], facts)
        self.assertEqual(len(self.cp.heartbeats[NODE]), 2)

    def test_unknown_route_and_method(self):
        st, doc, _ = self.call("GET", "/api/agent/nothing")
        self.assert_error(st, doc, 404, "not_found")
        st, _, _ = self.call("GET", "/api/agent/hello")
        self.assertEqual(st, 405)


class TestTasks(Base):
    def test_lease_batches_of_three_without_expiry(self):
        ids = [self.cp.enqueue_task(NODE, script="echo %d" % i)
               for i in range(5)]
        other = self.cp.enqueue_task("n2")
        a = self.lease()
        self.assertEqual(len(a), 3)
        for t in a:
            self.assertEqual(set(t), {"id", "lease_id", "interpreter",
                                      "script", "timeout_sec",
                                      "output_limit"})
        b = self.lease()
        self.assertEqual(len(b), 2)
        self.assertEqual(self.lease(), [])
        self.assertEqual(sorted(t["id"] for t in a + b), sorted(ids))
        self.assertEqual(self.cp.leased(NODE), sorted(ids))
        self.assertEqual(self.cp.queued("n2"), [other])

    def test_order_is_not_insertion_order(self):
        orders = set()
        for seed in range(10):
            cp = ControlPlane(seed=seed).start()
            self.addCleanup(cp.close)
            cp.add_node(NODE, TOKEN)
            for i in range(3):
                cp.enqueue_task(NODE, task_id="t%d" % i)
            c = http.client.HTTPConnection("127.0.0.1", cp.port, timeout=5)
            self.addCleanup(c.close)
            _, doc, _ = self.call("GET", "/api/agent/tasks?node_id=n1",
                                  conn=c)
            orders.add(tuple(t["id"] for t in doc))
        self.assertGreater(len(orders), 1)

    def test_results_and_leases(self):
        tid = self.cp.enqueue_task(NODE)
        t2 = self.cp.enqueue_task("n2")
        (t,) = self.lease()
        lid = t["lease_id"]
        st, doc, _ = self.post("/api/agent/task-result",
                               self.result(tid, "lease_wrong"))
        self.assert_error(st, doc, 403, "invalid_task_lease")
        st, doc, _ = self.post("/api/agent/task-result",
                               self.result("task_missing", lid))
        self.assert_error(st, doc, 403, "invalid_task_lease")
        # a queued (never leased) task of another node
        st, doc, _ = self.post("/api/agent/task-result",
                               self.result(t2, lid))
        self.assert_error(st, doc, 403, "invalid_task_lease")
        self.assertEqual(self.cp.results, {})
        st, doc, _ = self.post("/api/agent/task-result",
                               self.result(tid, lid, stdout="hi\n"))
        self.assertEqual((st, doc), (200, {"ok": True}))
        self.assertEqual(self.cp.results[tid]["stdout"], "hi\n")
        self.assertEqual(self.cp.leased(NODE), [])
        st, doc, _ = self.post("/api/agent/task-result",
                               self.result(tid, lid, stdout="again"))
        self.assert_error(st, doc, 403, "invalid_task_lease")
        self.assertEqual(self.cp.results[tid]["stdout"], "hi\n")
        # leased to n2, reported by n1
        (t,) = self.lease("n2", "tok-2")
        st, doc, _ = self.post("/api/agent/task-result",
                               self.result(t2, t["lease_id"]))
        self.assert_error(st, doc, 403, "invalid_task_lease")

    def test_output_limits(self):
        cases = [  # (output_limit, field, text, accepted)
            (10, "stdout", "x" * 10, True),
            (10, "stdout", "x" * 11, False),
            (10, "stderr", "\u00e9" * 5, True),       # 10 bytes
            (10, "error", "\u00e9" * 5 + "x", False),  # 11 bytes
            (10, "stdout", "\x01" * 10, True),        # 60 bytes encoded
            (0, "stdout", "x" * (64 * KiB), True),
            (-5, "stdout", "x" * (64 * KiB + 1), False),
            (MiB, "stdout", "x" * (256 * KiB), True),
            (MiB, "stdout", "x" * (256 * KiB + 1), False),
        ]
        for limit, field, text, ok in cases:
            tid = self.cp.enqueue_task(NODE, output_limit=limit)
            (t,) = self.lease()
            self.assertEqual(t["output_limit"], limit)
            st, doc, _ = self.post("/api/agent/task-result",
                                   self.result(tid, t["lease_id"],
                                               **{field: text}))
            if ok:
                self.assertEqual(st, 200, (limit, field, len(text)))
            else:
                self.assert_error(st, doc, 400,
                                  "task_output_limit_exceeded")
                self.assertEqual(self.cp.leased(NODE), [tid])
                st, _, _ = self.post("/api/agent/task-result",
                                     self.result(tid, t["lease_id"],
                                                 error="too much"))
                self.assertEqual(st, 200)

    def test_result_types(self):
        tid = self.cp.enqueue_task(NODE)
        (t,) = self.lease()
        for kw in ({"exit_code": "0"}, {"stdout": 5},
                   {"started_at": "now"}, {"node_id": "n2"}):
            st, doc, _ = self.post("/api/agent/task-result",
                                   self.result(tid, t["lease_id"], **kw))
            self.assert_error(st, doc, 400, "bad_request")


class TestProxyUsage(Base):
    def snap(self, **kw):
        s = {"node_id": NODE, "at": "2026-06-14T12:00:00Z",
             "core_uptime_sec": 5, "user_bytes": {"alice": 1, "b.o-b:1": 2},
             "collector_source": "http", "collector_status": "ok",
             "collector_checked_at": "2026-06-14T12:00:00Z"}
        s.update(kw)
        return {"node_id": NODE, "snapshot": s}

    def test_validation(self):
        st, _, _ = self.post("/api/agent/proxy-usage", self.snap())
        self.assertEqual(st, 200)
        st, _, _ = self.post("/api/agent/proxy-usage", self.snap(
            user_bytes=None, collector_status="error",
            collector_error="connection refused"))
        self.assertEqual(st, 200)
        many = {"u%d" % i: i for i in range(4096)}
        st, _, _ = self.post("/api/agent/proxy-usage",
                             self.snap(user_bytes=many))
        self.assertEqual(st, 200)
        self.assertEqual(len(self.cp.usage[NODE]), 3)
        many["u4096"] = 1
        bad = [self.snap(user_bytes=many),
               self.snap(user_bytes={"love@example.com": 1}),
               self.snap(user_bytes={"": 1}),
               self.snap(user_bytes={"_a": 1}),
               self.snap(user_bytes={"a" * 129: 1}),
               self.snap(user_bytes={"alice": -1}),
               self.snap(user_bytes={"alice": 1.5}),
               self.snap(user_bytes={"alice": "1"}),
               self.snap(user_bytes=[]),
               self.snap(collector_source="fi le"),
               {"node_id": NODE}]
        for b in bad:
            st, doc, _ = self.post("/api/agent/proxy-usage", b)
            self.assert_error(st, doc, 400, "bad_request")
        self.assertEqual(len(self.cp.usage[NODE]), 3)

    def test_no_proxy_profile(self):
        self.cp.set_proxy_profile(NODE, False)
        st, doc, _ = self.post("/api/agent/proxy-usage", self.snap())
        self.assert_error(st, doc, 400, "bad_request")


class TestTransport(Base):
    def test_keep_alive_conn_ids(self):
        for _ in range(3):
            self.assertEqual(self.call("GET", "/api/health")[0], 200)
        c2 = self.connect()
        self.addCleanup(c2.close)
        self.call("GET", "/api/health", conn=c2)
        ids = [r.conn_id for r in self.cp.requests("/api/health")]
        self.assertEqual(ids[0], ids[1])
        self.assertEqual(ids[1], ids[2])
        self.assertNotEqual(ids[2], ids[3])
        r = self.cp.requests()[0]
        self.assertEqual(r.method, "GET")
        self.assertEqual(r.headers["authorization"], "Bearer " + TOKEN)
        self.assertGreater(r.wire_bytes, 40)

    def test_recording(self):
        self.post("/api/agent/hello", hello_body())
        self.call("GET", "/api/agent/tasks?node_id=n1&x=")
        h, t = self.cp.requests()
        self.assertEqual(h.json["node_id"], NODE)
        self.assertEqual(json.loads(h.body), h.json)
        self.assertEqual(h.status, 200)
        self.assertEqual(t.query, {"node_id": NODE, "x": ""})
        self.assertLessEqual(h.t_mono, t.t_mono)
        self.assertEqual(self.cp.intervals("/api/agent/*"),
                         [t.t_mono - h.t_mono])
        self.assertEqual(len(self.cp.requests("/api/agent/*")), 2)
        self.assertEqual(len(self.cp.requests(method="POST")), 1)

    def test_rate_limit(self):
        cp = ControlPlane(rate_limit=True).start()
        self.addCleanup(cp.close)
        c = http.client.HTTPConnection("127.0.0.1", cp.port, timeout=5)
        self.addCleanup(c.close)
        statuses = []
        for _ in range(60):
            statuses.append(self.call("GET", "/api/health", conn=c)[0])
        self.assertEqual(statuses[:40], [200] * 40)
        self.assertIn(429, statuses[40:])
        st, doc, _ = self.call("GET", "/api/health", conn=c)
        if st == 429:
            self.assertEqual(doc["error"]["code"], "rate_limited")

    def test_wait_for_times_out_with_message(self):
        t0 = time.monotonic()
        with self.assertRaisesRegex(AssertionError, "the impossible"):
            self.cp.wait_for(lambda: False, 0.2, "the impossible")
        self.assertLess(time.monotonic() - t0, 2)
        self.call("GET", "/api/health")
        (r,) = self.cp.wait_requests("/api/health", 1, timeout=1)
        self.assertEqual(r.status, 200)

    def test_stop_and_restart_same_port(self):
        port = self.cp.port
        self.cp.stop()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
        self.cp.restart()
        self.assertEqual(self.cp.port, port)
        c = self.connect()
        self.addCleanup(c.close)
        self.assertEqual(self.call("GET", "/api/health", conn=c)[0], 200)

    def test_server_dies_mid_request(self):
        self.cp.fault("/api/agent/metrics", "delay", seconds=30)
        errors = []

        def client():
            try:
                self.post("/api/agent/metrics", metrics_body())
            except (http.client.HTTPException, OSError) as e:
                errors.append(e)

        t = threading.Thread(target=client)
        t.start()
        self.cp.wait_requests("/api/agent/metrics", 1, timeout=5,
                              done=False)
        t0 = time.monotonic()
        self.cp.stop()
        t.join(5)
        self.assertLess(time.monotonic() - t0, 3)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(errors), 1, errors)

    def test_ipv6_loopback(self):
        try:
            cp = ControlPlane(host="::1").start()
        except OSError as e:
            self.skipTest("no IPv6 loopback: %s" % e)
        self.addCleanup(cp.close)
        self.assertTrue(cp.url.startswith("http://[::1]:"))
        c = http.client.HTTPConnection("::1", cp.port, timeout=5)
        self.addCleanup(c.close)
        self.assertEqual(self.call("GET", "/api/health", conn=c)[0], 200)
        self.assertEqual(cp.requests()[0].client[0], "::1")

    def test_stop_closes_idle_keepalive(self):
        self.assertEqual(self.call("GET", "/api/health")[0], 200)
        t0 = time.monotonic()
        self.cp.stop()
        self.assertLess(time.monotonic() - t0, 3)
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.call("GET", "/api/health")


class TestFaults(Base):
    def test_status_faults_count_then_clear(self):
        self.cp.fault("/api/agent/metrics", "status", count=2, status=503)
        for _ in range(2):
            st, doc, _ = self.post("/api/agent/metrics", metrics_body())
            self.assertEqual(st, 503)
            self.assertIn("request_id", doc["error"])
        self.assertEqual(self.post("/api/agent/metrics",
                                   metrics_body())[0], 200)
        self.assertEqual(self.cp.requests()[0].fault, "status")
        # unauthenticated health is not matched by the prefix
        self.cp.fault("/api/agent/", "status", count=None, status=502)
        for _ in range(3):
            self.assertEqual(self.post("/api/agent/hello",
                                       hello_body())[0], 502)
        self.assertEqual(self.call("GET", "/api/health")[0], 200)
        self.cp.clear_faults()
        self.assertEqual(self.post("/api/agent/hello", hello_body())[0], 200)

    def test_429_retry_after(self):
        self.cp.fault("/api/agent/hello", "status", status=429,
                      retry_after=7)
        st, doc, r = self.post("/api/agent/hello", hello_body())
        self.assertEqual((st, r.getheader("Retry-After")), (429, "7"))
        self.assertEqual(doc["error"]["code"], "rate_limited")
        self.cp.fault("/api/agent/hello", "status", status=429)
        st, _, r = self.post("/api/agent/hello", hello_body())
        self.assertEqual((st, r.getheader("Retry-After")), (429, None))
        self.cp.fault("/api/agent/hello", "status", status=401)
        st, doc, _ = self.post("/api/agent/hello", hello_body())
        self.assert_error(st, doc, 401, "invalid_node_token")

    def test_delay(self):
        self.cp.fault("/api/health", "delay", seconds=0.3)
        t0 = time.monotonic()
        self.assertEqual(self.call("GET", "/api/health")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        # a client timeout shorter than the delay sees a timeout
        self.cp.fault("/api/health", "delay", seconds=2)
        c = self.connect(timeout=0.2)
        self.addCleanup(c.close)
        with self.assertRaises(socket.timeout):
            self.call("GET", "/api/health", conn=c)

    def test_drop_and_reset(self):
        self.cp.fault("/api/health", "drop")
        with self.assertRaises(http.client.RemoteDisconnected):
            self.call("GET", "/api/health")
        self.conn.close()
        self.cp.fault("/api/health", "reset")
        with self.assertRaises(ConnectionResetError):
            self.call("GET", "/api/health")
        self.conn.close()
        self.assertEqual(self.call("GET", "/api/health")[0], 200)
        self.assertEqual([r.fault for r in self.cp.requests()],
                         ["drop", "reset", None])
        self.assertEqual([r.status for r in self.cp.requests()],
                         [None, None, 200])

    def test_drop_after_processing_keeps_result(self):
        tid = self.cp.enqueue_task(NODE)
        (t,) = self.lease()
        self.cp.fault("/api/agent/task-result", "drop", process=True)
        with self.assertRaises(http.client.RemoteDisconnected):
            self.post("/api/agent/task-result",
                      self.result(tid, t["lease_id"]))
        self.assertIn(tid, self.cp.results)
        self.conn.close()
        st, doc, _ = self.post("/api/agent/task-result",
                               self.result(tid, t["lease_id"]))
        self.assert_error(st, doc, 403, "invalid_task_lease")

    def test_garbage_truncate_huge(self):
        self.cp.fault("/api/agent/tasks", "garbage")
        st, doc, r = self.call("GET", "/api/agent/tasks?node_id=n1")
        self.assertEqual((st, doc), (200, None))
        self.cp.fault("/api/agent/tasks", "truncate")
        with self.assertRaises(http.client.IncompleteRead):
            self.call("GET", "/api/agent/tasks?node_id=n1")
        self.conn.close()
        self.cp.fault("/api/agent/tasks", "huge")
        self.conn.request("GET", "/api/agent/tasks?node_id=n1",
                          headers=AUTH)
        r = self.conn.getresponse()
        self.assertEqual(int(r.getheader("Content-Length")), 4 * MiB + 1)
        self.assertEqual(len(r.read()), 4 * MiB + 1)

    def test_wrong_shapes(self):
        for body in ('{"id":"x"}', tasks_body_many(10000),
                     nested_body(10000), '[{"id":1}]'):
            self.cp.fault("/api/agent/tasks", "body", body=body)
            self.conn.request("GET", "/api/agent/tasks?node_id=n1",
                              headers=AUTH)
            r = self.conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read().decode(), body)

    def test_redirect(self):
        other = ControlPlane().start()
        self.addCleanup(other.close)
        self.cp.fault("/api/agent/", "redirect", status=307,
                      location=other.url + "/")
        st, _, r = self.post("/api/agent/hello", hello_body())
        self.assertEqual(st, 307)
        self.assertEqual(r.getheader("Location"),
                         other.url + "/api/agent/hello")
        self.assertEqual(other.requests(), [])


class TestTLS(unittest.TestCase):
    def get(self, cp, ctx, host="127.0.0.1"):
        c = http.client.HTTPSConnection(host, cp.port, context=ctx,
                                        timeout=5)
        try:
            c.request("GET", "/api/health")
            return c.getresponse().status
        finally:
            c.close()

    def test_variants(self):
        with ControlPlane(tls=True) as ok:
            self.assertTrue(ok.url.startswith("https://127.0.0.1:"))
            ctx = ssl.create_default_context(cafile=ok.ca_file)
            self.assertEqual(self.get(ok, ctx), 200)
            self.assertEqual(self.get(ok, ctx, "localhost"), 200)
            ok.wait_requests("/api/health", 2)
            conns = {r.conn_id for r in ok.requests()}
            self.assertEqual(len(conns), 2)
            tls_dir = ok.tls_material.dir
            for variant, why in (("untrusted", "unable to get local issuer"),
                                 ("expired", "expired"),
                                 ("wrong-host", "mismatch")):
                with ControlPlane(tls=variant, tls_dir=tls_dir) as bad:
                    with self.assertRaisesRegex(
                            ssl.SSLCertVerificationError, why):
                        self.get(bad, ctx)
                    bad.wait_for(lambda: bad.refused_connections(), 5,
                                 "refused connection")
                    self.assertEqual(bad.requests(), [])
                    if variant != "wrong-host":
                        self.assertTrue(bad.tls_errors)
                    # libcurl (the agent's stack) refuses it too
                    if shutil.which("curl"):
                        r = subprocess.run(
                            ["curl", "-sS", "--cacert", ok.ca_file,
                             bad.url + "/api/health"],
                            capture_output=True, timeout=10)
                        self.assertEqual(r.returncode, 60, r.stderr)
                        n = len(bad.connections)
                        bad.wait_for(lambda: len(bad.refused_connections())
                                     == n, 5, "curl connection closed")


class TestStatSource(unittest.TestCase):
    def fetch(self, src, headers=None, path=None):
        c = http.client.HTTPConnection("127.0.0.1", src.port, timeout=5)
        try:
            c.request("GET", path or src.path, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def test_secret_formats_faults(self):
        with StatSource(secret="s3cret") as src:
            st, _ = self.fetch(src)
            self.assertEqual(st, 401)
            st, _ = self.fetch(src, {"Authorization": "Bearer wrong"})
            self.assertEqual(st, 401)
            good = {"Authorization": "Bearer s3cret",
                    "Accept": "application/json"}
            src.set_xray({"alice": (1, 2)}, extra=[("inbound>>>x", 5)],
                         as_strings=True)
            st, body = self.fetch(src, good)
            self.assertEqual(st, 200)
            doc = json.loads(body)
            self.assertEqual(doc["stat"][0],
                             {"name": "user>>>alice>>>traffic>>>uplink",
                              "value": "1"})
            src.set_envelope({"bob": 3})
            self.assertEqual(json.loads(self.fetch(src, good)[1]),
                             {"snapshot": {"core_uptime_sec": 100,
                                           "user_bytes": {"bob": 3}}})
            src.set_lattice({"bob": 4}, core_uptime_sec=7)
            self.assertEqual(json.loads(self.fetch(src, good)[1])
                             ["core_uptime_sec"], 7)
            self.assertEqual(self.fetch(src, good, "/other")[0], 404)
            r = src.requests(src.path)[-1]
            self.assertEqual(r.headers["accept"], "application/json")
            src.fault(src.path, "huge")
            st, body = self.fetch(src, good)
            self.assertEqual(len(body), MiB + 1)
            src.fault(src.path, "status", status=500)
            self.assertEqual(self.fetch(src, good)[0], 500)
            src.fault(src.path, "redirect", location="http://127.0.0.2:9/")
            self.assertEqual(self.fetch(src, good)[0], 302)
            self.assertTrue(src.url_for("localhost").startswith(
                "http://localhost:"))


class TestCLI(unittest.TestCase):
    def test_demo_lines(self):
        p = subprocess.Popen(
            [sys.executable, os.path.join(harness.TOP, "tests",
                                          "controlplane", "controlplane.py"),
             "--listen", "127.0.0.1:0", "--node", "demo-node:demo-token",
             "--task", "sh:echo hello", "--exit-after", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)
        lines = [p.stdout.readline(), p.stdout.readline()]
        self.assertIn("queued task_1", lines[0])
        port = int(lines[1].rsplit(":", 1)[1])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.addCleanup(c.close)
        hdr = {"Authorization": "Bearer demo-token",
               "Content-Type": "application/json"}
        c.request("POST", "/api/agent/metrics", json.dumps(dict(
            metrics_body(), node_id="demo-node")), hdr)
        c.getresponse().read()
        c.request("GET", "/api/agent/tasks?node_id=demo-node", headers=hdr)
        c.getresponse().read()
        c.request("POST", "/api/agent/hello", "{", hdr)
        c.getresponse().read()
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        out = out.splitlines()
        self.assertRegex(out[0], r"POST /api/agent/metrics +200 .*cpu=3\.5%"
                         r".*host_facts=no")
        self.assertRegex(out[1], r"GET +/api/agent/tasks +200 leased=1 "
                         r"task_1")
        self.assertRegex(out[2], r"hello +400 error=bad_request")


class TestHarness(unittest.TestCase):
    def test_agent_version(self):
        rc, out, _ = harness.run_agent(["-version"])
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^lattice-agent \d+\.\d+\.\d+")

    def fake_agent(self, script):
        d = tempfile.mkdtemp(prefix="fake-agent-")
        self.addCleanup(shutil.rmtree, d, True)
        p = os.path.join(d, "fake-agent")
        with open(p, "w") as f:
            f.write("#!/bin/sh\n" + script)
        os.chmod(p, 0o755)
        return p

    def test_wait_log_and_cleanup_by_pid(self):
        b = self.fake_agent('echo "level=info msg=hello arg=$1" >&2\n'
                            'trap "" TERM\nexec sleep 60\n')
        a = harness.Agent(["x1"], binary=b)
        self.addCleanup(a.cleanup)
        m = a.wait_log(r"msg=hello arg=(\S+)", timeout=5)
        self.assertEqual(m.group(1), "x1")
        self.assertTrue(a.running)
        with self.assertRaisesRegex(AssertionError, "no log line"):
            a.wait_log("never", timeout=0.1)
        # sleep ignores nothing but the shell set TERM to ignored: kill
        with self.assertRaises(AssertionError):
            a.stop(timeout=0.3)
        self.assertEqual(a.returncode, -signal.SIGKILL)
        with self.assertRaises(ProcessLookupError):
            os.kill(a.pid, 0)

    def test_wait_log_fails_fast_on_exit(self):
        b = self.fake_agent('echo "fatal: bad flag" >&2\nexit 2\n')
        a = harness.Agent([], binary=b)
        self.addCleanup(a.cleanup)
        t0 = time.monotonic()
        with self.assertRaisesRegex(AssertionError, "exited"):
            a.wait_log("ready", timeout=10)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(a.wait_exit(5), 2)
        self.assertEqual(a.log_lines(), ["fatal: bad flag"])

    def test_case_cleanup_kills_agents(self):
        b = self.fake_agent("exec sleep 60\n")

        class T(harness.AgentTestCase):
            def runTest(inner):
                a = harness.Agent([], binary=b)
                inner._agents.append(a)
                self.pid = a.pid
                self.assertIn("-server", inner.agent_args())
                self.assertEqual(inner.cp.nodes[inner.node_id]["token"],
                                 inner.token)

        r = unittest.TestResult()
        T().run(r)
        self.assertTrue(r.wasSuccessful(), r.errors + r.failures)
        with self.assertRaises(ProcessLookupError):
            os.kill(self.pid, 0)


if __name__ == "__main__":
    harness.main()
