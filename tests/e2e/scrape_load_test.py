#!/usr/bin/env python3
"""A scrape never fails: `canopy run` under hostile load, scraped by a real Prometheus.

1. Starts `canopy run` (the demo) on a free loopback port and the real
   prometheus scraping it every second (timeout 900 ms).
2. Load: --clients keep-alive clients request /api/v1/processes as fast as
   they can for --seconds; meanwhile a fresh connection asks for /metrics
   every 250 ms, and every counter of each scrape is compared with the last
   (a counter may only fall for a per-process series: a restarted process),
   while a worker is killed every 300 ms and demo faults are toggled.
3. Slow senders: --slow connections send a request head a byte per second;
   the server must drop each of them, and /metrics keeps being answered.
4. Asks Prometheus how many scrapes of the run failed (`up` == 0): none may.
Prints the figures (fresh-scrape times, scrapes, drops); the timed targets
are judged from them and from `canopy-bench http`, not asserted here.
"""
import argparse
import http.client
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_test as e2e  # noqa: E402  (the process, port and Prometheus helpers)

TOKEN = "load-test-token"
COUNTER_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")


def counters(text):
    """{series: value} for every counter series of a scrape."""
    kinds = {}
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            kinds[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = COUNTER_LINE.match(line)
        if m and kinds.get(m.group(1)) == "counter":
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Prober(threading.Thread):
    """A fresh connection's GET /metrics every 250 ms; checks the counters."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.times_ms = []
        self.failed = []
        self.fell = []
        self.last = {}

    def run(self):
        while not self.stop.is_set() and len(self.times_ms) < 100_000:
            t0 = time.monotonic()
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                c.request("GET", "/metrics")
                r = c.getresponse()
                body = r.read().decode()
                c.close()
                self.times_ms.append((time.monotonic() - t0) * 1000)
                if r.status != 200:
                    self.failed.append(f"status {r.status}")
                    continue
                now = counters(body)
                for series, value in now.items():
                    before = self.last.get(series)
                    if before is not None and value < before and 'process="' not in series:
                        self.fell.append(f"{series}: {before} -> {value}")
                self.last = now
            except OSError as e:
                self.failed.append(str(e))
            self.stop.wait(0.25)

    def summary(self):
        t = sorted(self.times_ms) or [0]
        return (f"fresh_scrapes={len(self.times_ms)} failed={len(self.failed)} "
                f"median_ms={t[len(t) // 2]:.1f} max_ms={t[-1]:.1f}")


def api_client(port, stop, counts):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        try:
            c.request("GET", "/api/v1/processes?limit=20&sort=mailbox")
            r = c.getresponse()
            r.read()
            counts["ok" if r.status == 200 else "bad"] += 1
        except (OSError, http.client.HTTPException):
            counts["bad"] += 1
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def chaos(port, stop, done):
    """Kills a random worker every 300 ms and toggles faults, through the admin API."""
    import json
    import random
    rng = random.Random(12)
    faults = ["orphans", "table_leak", "crash_loop", "mailbox_flood"]
    headers = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    tick = 0
    while not stop.is_set() and tick < 10_000:
        tick += 1
        try:
            c.request("GET", "/api/v1/processes?limit=200")
            r = c.getresponse()
            procs = json.loads(r.read())["processes"]
            workers = [p["pid"] for p in procs if p.get("behaviour", "").find("Supervisor") < 0]
            if workers:
                c.request("POST", f"/api/v1/processes/{rng.choice(workers)}/kill", body="{}", headers=headers)
                r = c.getresponse()
                r.read()
                done["kills"] += 1 if r.status == 200 else 0
            if tick % 10 == 0:
                fault = faults[(tick // 10) % len(faults)]
                on = (tick // 10) % 2 == 0
                c.request("PUT", f"/api/v1/workload/faults/{fault}", body=json.dumps({"enabled": on}), headers=headers)
                r = c.getresponse()
                r.read()
                done["toggles"] += 1 if r.status == 200 else 0
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        stop.wait(0.3)
    for fault in faults:
        c.request("PUT", f"/api/v1/workload/faults/{fault}", body='{"enabled": false}', headers=headers)
        c.getresponse().read()


def slow_senders(port, n, seconds):
    """n connections sending a head a byte a second; how long each lasted."""
    head = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\n\r\n"
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setblocking(False)
        socks.append(s)
    opened = time.monotonic()
    lived = [None] * n
    for i in range(min(len(head), seconds)):
        for k, s in enumerate(socks):
            if lived[k] is not None:
                continue
            try:
                if s.recv(4096) == b"":
                    lived[k] = time.monotonic() - opened
                    continue
            except BlockingIOError:
                pass
            except OSError:
                lived[k] = time.monotonic() - opened
                continue
            try:
                s.send(head[i:i + 1])
            except OSError:
                lived[k] = time.monotonic() - opened
        if all(v is not None for v in lived):
            break
        time.sleep(1)
    for s in socks:
        s.close()
    return lived


def run(args, work):
    os.environ["CANOPY_ADMIN_TOKEN"] = TOKEN
    started = e2e.Started()
    try:
        _, port = e2e.start_demo(started, args.canopy, args.source, work, "load")

        prom_cfg = os.path.join(work, "prometheus.yml")
        with open(prom_cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
                    "scrape_configs:\n  - job_name: canopy\n"
                    f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n")
        for attempt in range(3):
            prom_port = e2e.free_port()
            prometheus = started.start("prometheus", [
                args.prometheus, f"--config.file={prom_cfg}", f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
                f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                os.path.join(work, f"prometheus-{attempt}.log"))
            prom = e2e.Prom(prom_port)
            if e2e.wait_for("prometheus to serve",
                            lambda: prometheus.poll() is not None or e2e.http("GET", prom.base + "/-/ready")[0] == 200,
                            60) and prometheus.poll() is None:
                break
        else:
            raise SystemExit("load: prometheus would not start")
        if not e2e.wait_for("the canopy target to be up", prom.target_up, 60):
            raise SystemExit("load: the canopy target never came up in Prometheus")
        begin = time.time()

        # 2. Keep-alive clients on the API.
        prober = Prober(port)
        prober.start()
        stop = threading.Event()
        counts = {"ok": 0, "bad": 0}
        clients = [threading.Thread(target=api_client, args=(port, stop, counts), daemon=True)
                   for _ in range(args.clients)]
        mayhem = {"kills": 0, "toggles": 0}
        clients.append(threading.Thread(target=chaos, args=(port, stop, mayhem), daemon=True))
        for t in clients:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in clients:
            t.join(timeout=30)
        e2e.log(f"api load: clients={args.clients} seconds={args.seconds} api_ok={counts['ok']} "
                f"api_bad={counts['bad']} kills={mayhem['kills']} fault_toggles={mayhem['toggles']} {prober.summary()}")
        if mayhem["kills"] == 0 or mayhem["toggles"] == 0:
            e2e.fail(f"the chaos thread did nothing: {mayhem}")
        if counts["ok"] == 0:
            e2e.fail("no API request was answered under load")

        # 3. Slow senders.
        before = len(prober.times_ms)
        lived = slow_senders(port, args.slow, 40)
        dropped = [v for v in lived if v is not None]
        e2e.log(f"slow senders: connections={args.slow} dropped={len(dropped)} "
                f"longest_s={max(dropped or [0]):.1f} fresh_scrapes_meanwhile={len(prober.times_ms) - before} "
                f"{prober.summary()}")
        if len(dropped) != args.slow:
            e2e.fail(f"{args.slow - len(dropped)} of {args.slow} slow connections were never dropped")
        prober.stop.set()
        prober.join(timeout=30)
        if prober.failed:
            e2e.fail(f"{len(prober.failed)} fresh /metrics requests failed: {prober.failed[:3]}")
        if prober.fell:
            e2e.fail(f"{len(prober.fell)} counters fell between scrapes: {prober.fell[:5]}")

        # 4. Prometheus's own account: every scrape of the run succeeded.
        time.sleep(2)
        window = int(time.time() - begin) + 1
        total = prom.query(f'count_over_time(up{{job="canopy"}}[{window}s])')
        good = prom.query(f'sum_over_time(up{{job="canopy"}}[{window}s])')
        scrapes = int(float(total[0]["value"][1])) if total else 0
        failed = scrapes - int(float(good[0]["value"][1])) if good else scrapes
        e2e.log(f"prometheus: scrapes={scrapes} failed={failed} over {window}s")
        if scrapes < window // 2:
            e2e.fail(f"only {scrapes} scrapes in {window}s")
        if failed != 0:
            e2e.fail(f"{failed} of {scrapes} Prometheus scrapes failed")
    except BaseException:
        started.dump_logs()
        raise
    finally:
        started.stop_all()
        if e2e.failures:
            started.dump_logs()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--canopy", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--slow", type=int, default=200)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="canopy-load-")
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if e2e.failures:
        print(f"\nload: {len(e2e.failures)} failure(s):")
        for f in e2e.failures:
            print("  - " + f)
        sys.exit(1)
    e2e.log("all checks passed")


if __name__ == "__main__":
    main()
