#!/usr/bin/env python3
"""Hostile HTTP against `canopy run`: every answer 2xx or 4xx, valid UTF-8, valid JSON, and nothing changed by a refusal.

Sends a fixed set of a few hundred raw requests (methods, paths with every
kind of escape, framing tricks, malformed bodies, auth variants) to the demo
on a free loopback port, one connection each. Each answer must be an HTTP
status of 2xx or 4xx; a JSON answer must be valid UTF-8 and parse; after
each refused PUT the faults are as before; and the server is alive at the end.
"""
import argparse
import json
import os
import re
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_test as e2e  # noqa: E402

TOKEN = "hostile-test-token"


def exchange(port, raw, timeout=10):
    """Sends raw bytes, returns (status, headers, body) of the first answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(raw)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may close early on a bad request; read its answer
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return 0, {}, b""
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", len(body)))
    return (int(m.group(1)) if m else 0), headers, body[:length]


def requests():
    """(description, raw bytes, may change state) for every hostile request."""
    auth = f"Authorization: Bearer {TOKEN}\r\n"
    paths = [
        "/", "/metrics", "/healthz", "/readyz", "/-/reload", "/api/v1/", "/api/v1", "/api/v1/processes",
        "/api/v1/processes/%00", "/api/v1/processes/%2522", "/api/v1/processes/%FF%FE", "/api/v1/processes/<0.1.1>",
        "/api/v1/processes/0.0.1/kill", "/api/v1/processes/0.0.1/trace", "/api/v1/processes/0.0.1/nope",
        "/api/v1/no%22pe%0Anew", "/api/v1/%", "/api/v1/%zz", "/api/v1/processes?limit=-1", "/api/v1/processes?limit=1e99",
        "/api/v1/processes?sort=%22%0A", "/api/v1/processes?sort=nope&limit=abc", "/api/v1/orphans?min_age=-5",
        "/api/v1/workload/faults", "/api/v1/workload/faults/%22x%22", "/api/v1/workload/faults/runaway/extra",
        "/api/v1/workload/faults/\"quoted\"", "/api/v1/log-level", "/api/v1/tables", "/api/v1/alerts",
        "/api/v1/supervision-tree", "/api/v1/schedulers", "/api/v1/system", "/..%2F..%2Fetc%2Fpasswd",
        "//api//v1//processes", "/api/v1/processes/" + "9" * 5000, "/%C0%AE%C0%AE/", "/api/v1/%E2%80%AE",
    ]
    out = []
    for method in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "G\x7fT", "get"]:
        for path in paths:
            raw_path = path.replace("\"", "%22") if method == "GET" else path
            body = b'{"enabled": falsey}' if method in ("PUT", "POST") else b""
            head = f"{method} {raw_path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Length: {len(body)}\r\n\r\n"
            out.append((f"{method} {path[:60]}", head.encode("latin-1") + body, False))
    framing = [
        b"BLAH\r\n\r\n",
        b"GET /healthz HTTP/9.9\r\nHost: a\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\nHost: a\n\n",
        b"GET /healthz HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET /healthz\xff HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://evil/healthz HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX: " + b"a" * 20000 + b"\r\n\r\n",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\n" + auth.encode() +
        b"Content-Length: 17\r\nContent-Length: 18\r\n\r\n{\"enabled\": true}",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\n" + auth.encode() +
        b"Content-Length: 40\r\n\r\n{\"enabled\": true}",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\n" + auth.encode() +
        b"Transfer-Encoding: chunked\r\n\r\n11\r\n{\"enabled\": true}\r\n0\r\n\r\n",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\n" + auth.encode() +
        b"Content-Length: 17\r\n\r\n{\"enabled\": true",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\n" + auth.encode() +
        b"Content-Length: 19\r\n\r\n{\"enabled\": falsey}",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\n" + auth.encode() +
        b"Content-Length: 12\r\n\r\n[true, false",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer wrong\r\n"
        b"Content-Length: 17\r\n\r\n{\"enabled\": true}",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\nAuthorization: Basic eDp5\r\n"
        b"Content-Length: 17\r\n\r\n{\"enabled\": true}",
        b"PUT /api/v1/workload/faults/runaway HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n{\"enabled\": true}",
        b"PUT /api/v1/log-level HTTP/1.1\r\nHost: a\r\n" + auth.encode() + b"Content-Length: 21\r\n\r\n{\"level\": \"\xff\xfe\"}",
        b"POST /api/v1/processes/0.0.1/kill HTTP/1.1\r\nHost: a\r\n" + auth.encode() +
        b"Content-Length: 99999999\r\n\r\n",
        b"\r\n\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on the plain port
    ]
    out += [(f"framing #{i}: {raw[:50]!r}", raw, False) for i, raw in enumerate(framing)]
    return out


def run(args, work):
    os.environ["CANOPY_ADMIN_TOKEN"] = TOKEN
    started = e2e.Started()
    try:
        canopy, port = e2e.start_demo(started, args.canopy, args.source, work, "hostile")
        faults_url = f"http://127.0.0.1:{port}/api/v1/workload/faults"
        faults_before = e2e.http("GET", faults_url)[1]
        statuses = {}
        cases = requests()
        for what, raw, _ in cases:
            status, headers, body = exchange(port, raw)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 0 and (raw.startswith(b"\x16") or not raw.strip()):
                continue  # a TLS handshake, or no request at all: closed without an answer, which is right
            if not (200 <= status < 300 or 400 <= status < 500):
                e2e.fail(f"{what}: status {status}")
                continue
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                e2e.fail(f"{what}: the body is not UTF-8 ({e})")
                continue
            if headers.get("content-type", "").startswith("application/json") and body:
                try:
                    json.loads(text)
                except ValueError as e:
                    e2e.fail(f"{what}: invalid JSON ({e}): {text[:200]!r}")
            if canopy.poll() is not None:
                raise SystemExit(f"hostile: canopy died after {what}")
        faults_after = e2e.http("GET", faults_url)[1]
        if json.loads(faults_after) != json.loads(faults_before):
            e2e.fail(f"refused requests changed the faults: {faults_before} -> {faults_after}")
        if e2e.http("GET", f"http://127.0.0.1:{port}/healthz")[0] != 200:
            e2e.fail("the server does not answer /healthz after the hostile requests")
        e2e.log(f"hostile: {len(cases)} requests, answers by status: {dict(sorted(statuses.items()))}")
    finally:
        started.stop_all()
        if e2e.failures:
            started.dump_logs()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--canopy", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="canopy-hostile-")
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if e2e.failures:
        print(f"\nhostile: {len(e2e.failures)} failure(s):")
        for f in e2e.failures:
            print("  - " + f)
        sys.exit(1)
    e2e.log("all checks passed")


if __name__ == "__main__":
    main()
