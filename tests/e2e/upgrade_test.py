#!/usr/bin/env python3
"""The demo's hot upgrade through the HTTP route and the CLI: pricing v1 -> v2 (committed) -> v3 (rolled back).

Starts `canopy run` with the example config (an admin token set) on a free
loopback port. The demo runs three pricing servers from the pricing module,
version 1, with a client casting quotes to them five times a second. Then:
  - without the token, POST /api/v1/code/upgrade is refused and nothing changes;
  - a dry run of v2 reports dry_run_ok and leaves v1 running;
  - the route upgrades to v2: committed, the same three pids, now on version 2;
  - `canopy upgrade pricing v3 --token-file F` rolls back (exit 1, the failing
    pid and reason on stderr), every server still on v2 with the same pids;
  - a repeated version, a library that does not exist and a body that is not
    JSON are clean 400 errors;
  - /metrics counts one committed and one rolled_back upgrade and shows
    canopy_module_info for version 2 only; canopy stops with exit 0.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_test as e2e  # noqa: E402

TOKEN = "upgrade-test-token"


def post(port, body, token=TOKEN):
    import urllib.error
    import urllib.request
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/code/upgrade", data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def code(port):
    status, body = e2e.http("GET", f"http://127.0.0.1:{port}/api/v1/code")
    if status != 200:
        raise RuntimeError(f"GET /api/v1/code: {status} {body}")
    mods = {m["module"]: m for m in json.loads(body)["modules"]}
    return mods.get("pricing")


def pricing_servers(port):
    """{name: (pid, module_version)} of the demo's pricing servers."""
    status, body = e2e.http("GET", f"http://127.0.0.1:{port}/api/v1/processes?limit=1000&prefix=pricing_")
    if status != 200:
        raise RuntimeError(f"GET /api/v1/processes: {status} {body}")
    doc = json.loads(body)
    procs = doc["processes"] if isinstance(doc, dict) else doc
    return {p["name"]: (p["pid"], p["module_version"]) for p in procs
            if p.get("module") == "pricing" and p.get("name", "").startswith("pricing_")}


def metric_lines(port, name):
    status, body = e2e.http("GET", f"http://127.0.0.1:{port}/metrics")
    return [line for line in body.splitlines() if line.startswith(name + "{")]


def run(args, work):
    os.environ["CANOPY_ADMIN_TOKEN"] = TOKEN
    token_file = os.path.join(work, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    modules = os.path.join(os.path.dirname(os.path.abspath(args.canopy)), "modules")
    v = {n: os.path.join(modules, f"libcanopy_pricing_v{n}.so") for n in (1, 2, 3)}
    started = e2e.Started()
    try:
        canopy, port = e2e.start_demo(started, args.canopy, args.source, work, "upgrade")
        url = f"http://127.0.0.1:{port}"
        booted = e2e.wait_for("three pricing servers on v1",
                              lambda: (lambda s: s if len(s) == 3 and all(ver == "1" for _, ver in s.values()) else None)(
                                  pricing_servers(port)), 60)
        if not booted:
            raise SystemExit("upgrade: the demo's pricing servers never ran version 1")
        pids = {name: pid for name, (pid, _) in booted.items()}
        e2e.log(f"pricing servers on v1: {pids}")

        status, body = post(port, {"module": "pricing", "path": v[2]}, token=None)
        if status != 401:
            e2e.fail(f"an upgrade without the token answered {status} (want 401): {body}")
        if code(port)["current_version"] != "1":
            e2e.fail("a refused upgrade changed the running version")

        status, body = post(port, {"module": "pricing", "path": v[2], "dry_run": True})
        if status != 200 or body.get("result") != "dry_run_ok" or body.get("processes") != 3:
            e2e.fail(f"dry run of v2: {status} {body} (want dry_run_ok over 3 processes)")
        if code(port)["current_version"] != "1" or any(ver != "1" for _, ver in pricing_servers(port).values()):
            e2e.fail("a dry run switched code")

        status, body = post(port, {"module": "pricing", "path": v[2]})
        if status != 200 or body.get("result") != "committed" or body.get("to_version") != "2":
            e2e.fail(f"upgrade to v2: {status} {body} (want committed)")
        else:
            e2e.log(f"v1 -> v2 committed in {body['upgrade_ms']:.1f} ms, max suspended {body['max_suspended_ms']:.1f} ms")
        after = pricing_servers(port)
        if {n: pid for n, (pid, _) in after.items()} != pids:
            e2e.fail(f"the upgrade changed the servers' pids (restarted instead of upgraded?): {pids} -> {after}")
        if any(ver != "2" for _, ver in after.values()):
            e2e.fail(f"after the committed upgrade not every server runs v2: {after}")

        cli = subprocess.run([args.canopy, "upgrade", "pricing", v[3], "--url", url, "--token-file", token_file],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if cli.returncode != 1 or "rolled_back" not in cli.stderr + cli.stdout or "free items" not in cli.stderr:
            e2e.fail(f"canopy upgrade to v3: exit {cli.returncode} (want 1, rolled back with the reason): "
                     f"stdout {cli.stdout!r} stderr {cli.stderr!r}")
        else:
            e2e.log(f"v2 -> v3: {cli.stderr.strip()}")
        after = pricing_servers(port)
        if after != {n: (pid, "2") for n, pid in pids.items()}:
            e2e.fail(f"after the rollback the servers are not all on v2 with the same pids: {after}")
        mod = code(port)
        if mod["current_version"] != "2" or [x["version"] for x in mod["versions"]] != ["2"]:
            e2e.fail(f"after the rollback GET /api/v1/code shows {mod} (want only version 2, current)")

        for what, body, needle in [
            ("a repeated version", {"module": "pricing", "path": v[2]}, "already loaded"),
            ("a missing library", {"module": "pricing", "path": os.path.join(work, "nope.so")}, "cannot load"),
            ("a body that is not JSON", b"{module: pricing", "not a JSON object"),
        ]:
            status, answer = post(port, body)
            if status != 400 or needle not in answer.get("error", ""):
                e2e.fail(f"{what}: {status} {answer} (want 400 naming '{needle}')")

        cli = subprocess.run([args.canopy, "upgrade", "pricing", v[2], "--url", "http://127.0.0.1:1"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if cli.returncode == 0 or "127.0.0.1:1" not in cli.stderr:
            e2e.fail(f"canopy upgrade against a dead URL: exit {cli.returncode}, stderr {cli.stderr!r}")

        upgrades = metric_lines(port, "canopy_code_upgrades_total")
        for result in ("committed", "rolled_back", "dry_run_ok"):
            if not any(f'result="{result}"' in line and line.endswith(" 1") for line in upgrades):
                e2e.fail(f"canopy_code_upgrades_total{{result=\"{result}\"}} is not 1: {upgrades}")
        info = metric_lines(port, "canopy_module_info")
        if len(info) != 1 or 'version="2"' not in info[0]:
            e2e.fail(f"canopy_module_info: {info} (want version 2 only)")
        if canopy.poll() is not None:
            e2e.fail(f"canopy exited with {canopy.returncode} during the upgrades")
    finally:
        started.stop_all()
        if e2e.failures:
            started.dump_logs()
    if started.procs and started.procs[0][1].returncode != 0:
        e2e.fail(f"canopy exited with {started.procs[0][1].returncode} on SIGTERM (want 0)")


def main():
    e2e.main_in_workdir("upgrade", __doc__, run)


if __name__ == "__main__":
    main()
