#!/usr/bin/env python3
"""Crash reports and dumps on the demo: the routes, SIGUSR1 and `canopy dump`.

Starts `canopy run` with the example config (an admin token set, dump.dir in a
temp folder) on a free loopback port. Then:
  - POST /api/v1/dump without the token is refused (401) and writes nothing;
  - GET /api/v1/crashes answers JSON newest first; bad parameters are named 400s;
  - with the `mailbox_flood` fault on and the ledger's mailbox deep,
    POST /api/v1/dump answers the path of a dump for which `canopy dump` names
    slow_ledger in its verdict (and `--json` says the same as valid JSON);
  - SIGUSR1 writes another dump, whose slogan says so;
  - a truncated copy makes `canopy dump` exit 1 naming the line;
  - canopy stops with exit 0.
"""
import glob
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_test as e2e  # noqa: E402

TOKEN = "dump-test-token"


def request(port, method, path, body=None, token=TOKEN):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def ledger_mailbox(port):
    status, body = request(port, "GET", "/api/v1/processes?prefix=slow_ledger&limit=1", token=None)
    procs = body["processes"] if isinstance(body, dict) else body
    return procs[0]["mailbox_length"] if status == 200 and procs else 0


def canopy_dump(canopy, *args):
    return subprocess.run([canopy, "dump", *args], capture_output=True, text=True, timeout=60)


def dumps_in(folder):
    return sorted(glob.glob(os.path.join(folder, "canopy_crash_*.dump")))


def run(args, work):
    os.environ["CANOPY_ADMIN_TOKEN"] = TOKEN
    dump_dir = os.path.join(work, "dumps")
    os.makedirs(dump_dir)
    cfg = e2e.demo_config(args.source, work)
    with open(cfg) as f:
        text, n = re.subn(r'(?m)^(  dir: )""$', rf'\g<1>"{dump_dir}"', f.read())
    if n != 1:
        raise SystemExit("dump: config/canopy.example.yaml changed shape: no dump.dir to set")
    with open(cfg, "w") as f:
        f.write(text)
    started = e2e.Started()
    try:
        canopy, port = e2e.start_canopy(started, args.canopy, cfg, work, "dump")
        if not e2e.wait_for("the demo's slow_ledger", lambda: request(port, "GET", "/api/v1/processes?prefix=slow_ledger",
                                                                        token=None)[0] == 200, 30):
            raise SystemExit("dump: the demo never served its processes")

        status, body = request(port, "POST", "/api/v1/dump", token=None)
        if status != 401 or "error" not in body:
            e2e.fail(f"POST /api/v1/dump without the token answered {status} (want 401): {body}")
        if dumps_in(dump_dir):
            e2e.fail("a refused dump request wrote a file")

        status, body = request(port, "GET", "/api/v1/crashes?limit=5", token=None)
        if status != 200 or not isinstance(body.get("crashes"), list) or "total" not in body:
            e2e.fail(f"GET /api/v1/crashes: {status} {body}")
        seqs = [c["seq"] for c in body.get("crashes", [])]
        if seqs != sorted(seqs, reverse=True):
            e2e.fail(f"crash reports are not newest first: {seqs}")
        for query, word in [("limit=0", "limit"), ("limit=x", "limit"), ("behaviour=", "behaviour"),
                            ("bogus=1", "bogus")]:
            status, body = request(port, "GET", f"/api/v1/crashes?{query}", token=None)
            if status != 400 or word not in body.get("error", ""):
                e2e.fail(f"GET /api/v1/crashes?{query}: {status} {body} (want a 400 naming {word})")

        status, body = e2e.http("PUT", f"http://127.0.0.1:{port}/api/v1/workload/faults/mailbox_flood",
                                {"enabled": True})
        if status == 401:  # the fault switch is an admin route too
            status, body = request(port, "PUT", "/api/v1/workload/faults/mailbox_flood", {"enabled": True})
        if status != 200:
            raise SystemExit(f"dump: switching mailbox_flood on: {status} {body}")
        if not e2e.wait_for("slow_ledger's mailbox to fill", lambda: ledger_mailbox(port) > 20_000, 30, 0.5):
            e2e.fail(f"slow_ledger's mailbox stayed at {ledger_mailbox(port)} under mailbox_flood")

        status, body = request(port, "POST", "/api/v1/dump", {"slogan": "e2e during mailbox_flood"})
        path = body.get("path", "") if isinstance(body, dict) else ""
        if status != 200 or not os.path.isfile(path):
            raise SystemExit(f"dump: POST /api/v1/dump answered {status} {body}")
        e2e.log(f"dump written: {path} ({os.path.getsize(path)} bytes)")
        if not os.path.basename(path).startswith("canopy_crash_") or f"_{canopy.pid}" not in path:
            e2e.fail(f"the dump's name does not carry the time and the OS pid {canopy.pid}: {path}")

        r = canopy_dump(args.canopy, path)
        print(r.stdout, flush=True)
        if r.returncode != 0:
            e2e.fail(f"canopy dump {path}: exit {r.returncode}: {r.stderr}")
        verdict = [line for line in r.stdout.splitlines() if line.startswith("verdict: ")]
        if not any("mailbox overload: slow_ledger holds" in v for v in verdict):
            e2e.fail(f"canopy dump's verdict does not name slow_ledger: {verdict}")
        if "slogan:  on demand: e2e during mailbox_flood" not in r.stdout:
            e2e.fail("canopy dump does not show the slogan")
        r = canopy_dump(args.canopy, path, "--json")
        try:
            summary = json.loads(r.stdout)
            if not any(v.startswith("mailbox overload: slow_ledger") for v in summary["verdicts"]):
                e2e.fail(f"canopy dump --json verdicts: {summary['verdicts']}")
            if summary["top_by_mailbox"][0]["name"] != "slow_ledger":
                e2e.fail(f"canopy dump --json: top mailbox is {summary['top_by_mailbox'][0]}")
        except (ValueError, KeyError, IndexError) as e:
            e2e.fail(f"canopy dump --json is not the summary as JSON ({e}): {r.stdout[:300]}")

        request(port, "PUT", "/api/v1/workload/faults/mailbox_flood", {"enabled": False})

        before = set(dumps_in(dump_dir))
        canopy.send_signal(signal.SIGUSR1)
        new = e2e.wait_for("a dump after SIGUSR1", lambda: sorted(set(dumps_in(dump_dir)) - before), 30, 0.2)
        if not new:
            e2e.fail("SIGUSR1 wrote no dump")
        else:
            r = canopy_dump(args.canopy, new[0])
            if r.returncode != 0 or "slogan:  on demand: SIGUSR1" not in r.stdout:
                e2e.fail(f"the SIGUSR1 dump: exit {r.returncode}: {r.stdout[:200]} {r.stderr}")

        with open(path) as f:
            lines = f.readlines()
        cut = os.path.join(work, "truncated.dump")
        with open(cut, "w") as f:
            f.writelines(lines[: len(lines) // 2])
        r = canopy_dump(args.canopy, cut)
        if r.returncode != 1 or not re.search(r"line \d+: truncated", r.stderr):
            e2e.fail(f"canopy dump of a truncated file: exit {r.returncode}, stderr {r.stderr!r}")

        canopy.send_signal(signal.SIGTERM)
        try:
            code = canopy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        if code != 0:
            e2e.fail(f"canopy exited with {code} after SIGTERM")
    except SystemExit:
        started.dump_logs()
        raise
    finally:
        started.stop_all()
    if e2e.failures:
        started.dump_logs()


def main():
    e2e.main_in_workdir("dump", __doc__, run)


if __name__ == "__main__":
    main()
