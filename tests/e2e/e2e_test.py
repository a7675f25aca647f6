#!/usr/bin/env python3
"""End-to-end: a real `canopy run` scraped by the real `prometheus` binary.

1. Builds a test config from config/canopy.example.yaml: a free loopback port,
   token-less admin from loopback (admin_without_token: loopback),
   faults off, and the shipped alert rules with short `for` durations and
   short windows (so each fault's alert can fire within 30 s).
2. Renders the rules with `canopy rules`, checks them with `promtool`.
3. Starts canopy, then prometheus (temp tsdb, scrape + evaluation every 1 s).
4. Requires the target to be up, then every query of every dashboard panel to
   return data.
4b. The quiet phase: a second prometheus scrapes the same canopy from the
   start with the SHIPPED rule expressions (config/prometheus/canopy-rules.yml,
   only `for` shortened). Before any fault goes on, the healthy demo must have
   run QUIET_S seconds under them with no alert pending or firing.
5. Switches each demo fault on through the admin route, requires the matching
   alert to reach `firing` within 30 s with the culprit in its labels, and the
   API and the top-N metrics to name the same culprit; switches it off and
   requires the alert to resolve.

Everything it starts is stopped by pid (and dies with this script, through
PR_SET_PDEATHSIG, should ctest kill it). Standard library only.
"""
import argparse
import ctypes
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

FIRE_WITHIN_S = 30
RESOLVE_WITHIN_S = 90
QUIET_S = 120

# fault -> (alert, label the alert must carry with the culprit, or None)
FAULTS = [
    ("runaway", "CanopyLongSchedules", None),
    ("mailbox_flood", "CanopyMailboxOverload", "process"),
    ("table_leak", "CanopyTableGrowingUnbounded", "table"),
    ("orphans", "CanopyOrphanProcesses", "behaviour"),
    ("crash_loop", "CanopySupervisorIntensityExceeded", "supervisor"),
    ("boot_failure", "CanopyBootFailure", "child"),
    ("heap_leak", "CanopyLargeHeap", "process"),
]

failures = []


def log(msg):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    failures.append(msg)
    log("FAIL: " + msg)


def die_with_parent():
    # Runs in the child before exec: SIGKILL it when this script dies.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, timeout=10, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def set_fault(port, fault, on, token=None, label="e2e"):
    """Switches a demo fault on 127.0.0.1:port; exits naming it unless 200."""
    status, body = http("PUT", f"http://127.0.0.1:{port}/api/v1/workload/faults/{fault}", {"enabled": on},
                        token=token)
    if status != 200:
        raise SystemExit(f"{label}: switching {fault} to {on}: HTTP {status} {body}")


def wait_for(what, fn, timeout_s, interval_s=0.5):
    """Calls fn until it returns a truthy value or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    last_error = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, ValueError, KeyError, RuntimeError) as e:  # not up yet, bad JSON, a 5xx
            last_error = e
        time.sleep(interval_s)
    log(f"gave up waiting for {what} after {timeout_s}s (last error: {last_error})")
    return None


def exit_on_failures(label):
    """Lists the failures and exits 1 if there are any; else logs that all passed."""
    if failures:
        print(f"\n{label}: {len(failures)} failure(s):")
        for f in failures:
            print("  - " + f)
        sys.exit(1)
    log("all checks passed")


def main_in_workdir(label, doc, run, add_args=None, check=None):
    """The main() of a test script: parses --canopy and --source (and what
    add_args(parser) adds), lets check(args) refuse a missing tool, calls
    run(args, work) in a temporary folder it removes afterwards, then
    exit_on_failures(label)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--canopy", required=True)
    ap.add_argument("--source", required=True)
    if add_args:
        add_args(ap)
    args = ap.parse_args()
    if check:
        check(args)
    work = tempfile.mkdtemp(prefix=f"canopy-{label}-")
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    exit_on_failures(label)


# ---------------------------------------------------------------- the config

def shorten(example):
    """The example config with a free port, short timings and short rules."""
    text = example
    replacements = [
        (r"(?m)^(  listen: ).*$", r'\g<1>"127.0.0.1:0"', 1),
        # The fault switches are admin routes, used here without a token.
        (r"(?m)^(  admin_without_token: )refuse$", r"\g<1>loopback", 1),
        (r"(?m)^(  orphan_min_age: ).*$", r"\g<1>2s", 1),
        # Every alert's `for` and window, shortened: 2 s and 20 s.
        (r"(?m)^(\s+for: )\S+$", r"\g<1>2s", None),
        (r"(?m)^(\s+(?:rate|deriv|increase): )\d+m$", r"\g<1>20s", None),
        (r"\[\d+m\]", "[20s]", None),
        (r"offset \d+m", "offset 20s", None),
        # 30 long schedules in 5 minutes becomes 3 in 20 s.
        (r"(?m)(name: CanopyLongSchedules\n(?:.*\n)*?\s+threshold: )30$", r"\g<1>3", 1),
    ]
    for pattern, repl, expected in replacements:
        text, n = re.subn(pattern, repl, text)
        if n == 0 or (expected is not None and n != expected):
            raise SystemExit(f"e2e: config/canopy.example.yaml changed shape: '{pattern}' matched {n} times")
    return text


def quiet(example):
    """The example config with only the alerts' `for` shortened (to 2 s): the shipped expressions."""
    text, n = re.subn(r"(?m)^(\s+for: )(?!0s$)\S+$", r"\g<1>2s", example)
    if n == 0:
        raise SystemExit("e2e: config/canopy.example.yaml changed shape: no alert `for` to shorten")
    return text


def check_rules_are_shipped(rules_text, source):
    """The rendered quiet rules are the shipped canopy-rules.yml with `for: 2s`, nothing else changed."""
    with open(os.path.join(source, "config", "prometheus", "canopy-rules.yml")) as f:
        shipped = re.sub(r"(?m)^(\s+for: )\S+$", r"\g<1>2s", f.read())
    if rules_text != shipped:
        raise SystemExit("e2e: the quiet rules are not the shipped expressions with `for` shortened")


def check_rules_are_short(rules_text):
    long_windows = re.findall(r"\[\d+[mhd]\]|offset \d+[mhd]|for: \d+[mhd]", rules_text)
    if long_windows:
        raise SystemExit(f"e2e: rendered rules still have long windows: {sorted(set(long_windows))}")


# ---------------------------------------------------------------- processes

class Started:
    def __init__(self):
        self.procs = []

    def start(self, name, argv, log_path):
        out = open(log_path, "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             preexec_fn=die_with_parent)
        out.close()
        self.procs.append((name, p, log_path))
        log(f"started {name} pid {p.pid}: {' '.join(argv)}")
        return p

    def stop_all(self):
        for name, p, _ in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    log(f"{name} (pid {p.pid}) ignored SIGTERM for 20s: SIGKILL")
                    p.kill()
                    p.wait(timeout=10)
            log(f"stopped {name} pid {p.pid} (exit {p.returncode})")

    def dump_logs(self):
        for name, _, path in self.procs:
            with open(path, errors="replace") as f:
                lines = f.readlines()
            print(f"----- last lines of {name}'s log ({path})")
            sys.stdout.writelines(lines[-40:])


def demo_config(source, work):
    """The example config with a free loopback port, written into `work`; its path."""
    with open(os.path.join(source, "config", "canopy.example.yaml")) as f:
        cfg_text = re.sub(r"(?m)^(  listen: ).*$", r'\g<1>"127.0.0.1:0"', f.read(), count=1)
    cfg = os.path.join(work, "canopy.yaml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    return cfg


def logged_port(proc, log_path, name, label, timeout_s=60):
    """The port of the http://127.0.0.1:PORT address `proc` logs once it serves."""
    def port():
        if proc.poll() is not None:
            raise SystemExit(f"{label}: {name} exited with {proc.returncode} before serving")
        with open(log_path, errors="replace") as f:
            m = re.search(r"at http://127\.0\.0\.1:(\d+)", f.read())
        return int(m.group(1)) if m else None
    p = wait_for(f"{name} to serve", port, timeout_s, 0.2)
    if not p:
        raise SystemExit(f"{label}: {name} never logged its address")
    return p


def start_canopy(started, canopy_bin, cfg, work, label):
    """`canopy run --config cfg`; its process and port once it logs its address."""
    log_path = os.path.join(work, "canopy.log")
    canopy = started.start("canopy", [canopy_bin, "run", "--config", cfg], log_path)
    return canopy, logged_port(canopy, log_path, "canopy", label)


def start_demo(started, canopy_bin, source, work, label):
    """`canopy run` with the example config on a free loopback port; its process and port."""
    return start_canopy(started, canopy_bin, demo_config(source, work), work, label)

# ---------------------------------------------------------------- prometheus

def start_prometheus(started, prometheus_bin, work, name, rules, canopy_port):
    """A prometheus scraping canopy every second and evaluating `rules`; its process and a Prom."""
    prom_cfg = os.path.join(work, f"{name}.yml")
    with open(prom_cfg, "w") as f:
        f.write(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n"
            f"rule_files: ['{rules}']\n"
            # As config/prometheus/prometheus.yml: the target names its
            # node too (up carries it), canopy's own node label wins.
            "scrape_configs:\n  - job_name: canopy\n    honor_labels: true\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{canopy_port}']\n        labels: {{node: canopy}}\n")
    # The free port is free when asked, not necessarily when prometheus
    # binds it: a prometheus that exits at once gets another port.
    for attempt in range(3):
        prom_port = free_port()
        prometheus = started.start(name, [
            prometheus_bin, f"--config.file={prom_cfg}", f"--storage.tsdb.path={os.path.join(work, 'tsdb-' + name)}",
            f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            os.path.join(work, f"{name}-{attempt}.log"))
        prom = Prom(prom_port)
        if wait_for(f"{name} to serve",
                    lambda: prometheus.poll() is not None or http("GET", prom.base + "/-/ready")[0] == 200, 60):
            if prometheus.poll() is None:
                return prometheus, prom
        log(f"{name} exited with {prometheus.returncode} on port {prom_port}; trying another port")
    raise SystemExit(f"e2e: {name} would not start (see its logs above)")


class Prom:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def query(self, q):
        status, body = http("GET", self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise RuntimeError(f"query failed ({status}): {doc.get('error', body)}: {q}")
        return doc["data"]["result"]

    def alerts(self, name):
        status, body = http("GET", self.base + "/api/v1/alerts")
        if status != 200:
            return []
        return [a for a in json.loads(body)["data"]["alerts"] if a["labels"].get("alertname") == name]

    def rules(self):
        status, body = http("GET", self.base + "/api/v1/rules")
        if status != 200:
            raise RuntimeError(f"GET /api/v1/rules: {status} {body}")
        return [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]

    def target_up(self):
        status, body = http("GET", self.base + "/api/v1/targets")
        if status != 200:
            return False
        active = json.loads(body)["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)


def dashboard_queries(source_dir):
    for path in sorted(glob.glob(os.path.join(source_dir, "dashboards", "*.json"))):
        with open(path) as f:
            dash = json.load(f)
        panels = list(dash.get("panels", []))
        while panels:
            panel = panels.pop(0)
            panels.extend(panel.get("panels", []))  # rows
            for target in panel.get("targets", []):
                if target.get("expr"):
                    yield os.path.basename(path), panel.get("title", "?"), target["expr"]


def substitute(expr, values):
    for name in sorted(values, key=len, reverse=True):  # $__rate_interval before $__rate
        expr = expr.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    # $1, $2...: label_replace's references to its regex groups, not variables.
    if "$" in re.sub(r"\$\d", "", expr.replace("$labels", "").replace("$value", "")):
        raise SystemExit(f"e2e: a dashboard query uses a variable this test does not set: {expr}")
    return expr


# ---------------------------------------------------------------- the culprits

def names(label_value, culprit):
    """Whether an alert's label names the culprit: exactly, or a behaviour's
    qualified type name (canopy::app::(anonymous namespace)::OrphanWorker)."""
    return label_value is not None and (label_value == culprit or label_value.endswith("::" + culprit))


def culprit_problems(fault, culprit, canopy_url, prom):
    """Where the API or the top-N metrics fail to name the fault's culprit."""
    def api(path):
        status, body = http("GET", canopy_url + path)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body}")
        return json.loads(body)

    def top_label(q, label):
        result = prom.query(q)
        return result[0]["metric"].get(label) if result else None

    if fault == "mailbox_flood":
        top = api("/api/v1/processes?sort=mailbox&limit=1")["processes"]
        got_api = top[0]["name"] if top else None
        got_metric = top_label('topk(1, canopy_process_mailbox_length{job="canopy"})', "process")
        # The kind of actor that is saturated: the ledger's behaviour has the highest p99 mailbox wait.
        slowest = top_label('topk(1, histogram_quantile(0.99, sum by (behaviour, le) '
                            '(rate(canopy_behaviour_mailbox_wait_seconds_bucket{job="canopy"}[20s]))))', "behaviour")
        if not slowest or not slowest.endswith("Ledger"):
            got_metric = f"highest p99 mailbox wait: behaviour {slowest!r}, not the ledger's"
    elif fault == "table_leak":
        # The biggest table, and one with neither a bound nor a TTL.
        tables = api("/api/v1/tables")
        biggest = max(tables, key=lambda t: t["size"]) if tables else {}
        unbounded = biggest.get("max_entries") == 0 and biggest.get("max_bytes") == 0 and \
            biggest.get("default_ttl_seconds") == 0
        got_api = biggest.get("name") if unbounded else f"{biggest.get('name')} (bounded or with a TTL)"
        got_metric = top_label('topk(1, deriv(canopy_table_entries{job="canopy"}[20s]))', "table")
    elif fault == "orphans":
        orphans = api("/api/v1/orphans")["processes"]
        kinds = {p["behaviour"].split("::")[-1] for p in orphans}
        got_api = culprit if orphans and kinds == {culprit} else f"orphans {sorted(kinds)}"
        leaked = prom.query('canopy_orphan_processes{job="canopy"} >= 25')
        got_metric = culprit if leaked and names(leaked[0]["metric"].get("behaviour"), culprit) else \
            f"canopy_orphan_processes >= 25 for {[r['metric'].get('behaviour') for r in leaked]}"
    elif fault == "crash_loop":
        tree = json.dumps(api("/api/v1/supervision-tree"))
        got_api = culprit if f'"name": "{culprit}"' in tree or f'"name":"{culprit}"' in tree else None
        got_metric = top_label('topk(1, increase(canopy_supervisor_intensity_exceeded_total{job="canopy"}[1m]))',
                               "supervisor")
    elif fault == "runaway":
        got_metric = top_label('topk(1, rate(canopy_process_reductions_total{job="canopy"}[10s]))', "process")
        info = api("/api/v1/processes?sort=reductions&prefix=" + culprit)["processes"]
        got_api = culprit if info and info[0]["name"] == culprit else None
    elif fault == "boot_failure":
        tree = api("/api/v1/supervision-tree")
        errors = []

        def walk(sup):
            for c in sup.get("children", []):
                if c.get("last_start_error"):
                    errors.append(c["id"])
                if c.get("supervisor"):
                    walk(c["supervisor"])
        for app in tree["applications"]:
            walk(app["root"])
        got_api = culprit if culprit in errors else f"children with start errors: {errors}"
        got_metric = top_label('topk(1, canopy_boot_failures_total{job="canopy"})', "child")
    elif fault == "heap_leak":
        top = api("/api/v1/processes?sort=heap&limit=1")["processes"]
        got_api = top[0]["name"] if top else None
        got_metric = top_label('topk(1, canopy_process_heap_bytes{job="canopy"})', "process")
        # The heap panels read real bytes: the processes' share of memory too.
        if not prom.query('canopy_memory_bytes{job="canopy", kind="processes"} > 33554432'):
            got_metric = "canopy_memory_bytes{kind=\"processes\"} under 32 MiB"
    else:
        raise SystemExit(f"e2e: no culprit check for {fault}")
    return [f"{fault}: the {where} names {got!r}, the fault's culprit is {culprit!r}"
            for where, got in (("API", got_api), ("metrics", got_metric)) if got != culprit]


# ---------------------------------------------------------------- the quiet phase

def quiet_phase(prom, since):
    """QUIET_S seconds of the healthy demo under the shipped rules (evaluated every second since
    `since`, the start of their prometheus), and no alert pending or firing at any evaluation."""
    left = QUIET_S - (time.monotonic() - since)
    if left > 0:
        log(f"quiet phase: {left:.0f}s more of the healthy demo under the shipped rules")
        time.sleep(left)
    window = int(time.monotonic() - since) + 1
    rules = prom.rules()
    if len(rules) < 15:
        fail(f"quiet phase: prometheus has {len(rules)} shipped rules loaded, expected 15")
    for r in rules:
        if r.get("health") != "ok":
            fail(f"quiet phase: rule {r.get('name')} is {r.get('health')}: {r.get('lastError')}")
    # ALERTS has a series for every evaluation at which a rule's expression
    # held (alertstate pending, then firing), whatever its `for`.
    active = prom.query(f"max_over_time(ALERTS[{window}s])")
    for a in active:
        fail(f"quiet phase: {a['metric'].get('alertname')} was {a['metric'].get('alertstate')} on the healthy "
             f"demo within {window}s: {a['metric']}")
    up = prom.query(f'min_over_time(up{{job="canopy"}}[{window}s])')
    if not up or float(up[0]["value"][1]) != 1:
        fail(f"quiet phase: the canopy target was not up throughout the {window}s: {up}")
    log(f"quiet phase: {len(rules)} shipped rules, {window}s of the healthy demo, "
        f"{len(active)} alerts pending or firing")


# ---------------------------------------------------------------- the run

def run(args, work):
    with open(os.path.join(args.source, "config", "canopy.example.yaml")) as f:
        cfg_text = shorten(f.read())
    cfg = os.path.join(work, "canopy.yaml")
    with open(cfg, "w") as f:
        f.write(cfg_text)
    rules = os.path.join(work, "rules.yml")
    subprocess.run([args.canopy, "check", cfg], check=True, timeout=60)
    subprocess.run([args.canopy, "rules", cfg, "-o", rules], check=True, timeout=60)
    with open(rules) as f:
        check_rules_are_short(f.read())
    subprocess.run([args.promtool, "check", "rules", rules], check=True, timeout=60, stdout=subprocess.DEVNULL)
    # The quiet phase's rules: the shipped expressions, `for` shortened.
    with open(os.path.join(args.source, "config", "canopy.example.yaml")) as f:
        quiet_cfg_text = quiet(f.read())
    quiet_cfg = os.path.join(work, "canopy-quiet.yaml")
    with open(quiet_cfg, "w") as f:
        f.write(quiet_cfg_text)
    quiet_rules = os.path.join(work, "quiet-rules.yml")
    subprocess.run([args.canopy, "rules", quiet_cfg, "-o", quiet_rules], check=True, timeout=60)
    with open(quiet_rules) as f:
        check_rules_are_shipped(f.read(), args.source)

    started = Started()
    try:
        canopy, port = start_canopy(started, args.canopy, cfg, work, "e2e")
        canopy_url = f"http://127.0.0.1:{port}"
        if not wait_for("canopy /readyz", lambda: http("GET", canopy_url + "/readyz")[0] == 200, 60):
            fail("canopy never became ready: " + http("GET", canopy_url + "/readyz")[1])

        prometheus, prom = start_prometheus(started, args.prometheus, work, "prometheus", rules, port)
        quiet_prometheus, quiet_prom = start_prometheus(started, args.prometheus, work, "quiet-prometheus",
                                                        quiet_rules, port)
        quiet_since = time.monotonic()
        for p, pr in ((prometheus, prom), (quiet_prometheus, quiet_prom)):
            if not wait_for("prometheus's canopy target to be up", lambda: p.poll() is None and pr.target_up(), 60):
                raise SystemExit("e2e: the canopy target never came up in Prometheus")
        log("target up")
        # Enough samples for the dashboards' rate windows.
        wait_for("20 s of samples", lambda: prom.query('count_over_time(up{job="canopy"}[30s]) >= 15'), 60)

        # -- every dashboard query returns data
        # node: the example config's node.name (every series carries it).
        values = {"job": "canopy", "instance": f"127.0.0.1:{port}", "node": "canopy", "__rate_interval": "10s",
                  "process": "slow_ledger", "table": "order_cache", "supervisor": "workers_sup"}
        checked = 0
        for dash, title, expr in dashboard_queries(args.source):
            q = substitute(expr, values)
            try:
                result = prom.query(q)
            except RuntimeError as e:
                fail(f"{dash} / {title}: {e}")
                continue
            checked += 1
            if not result:
                fail(f"{dash} / {title}: no data for {q}")
        log(f"{checked} dashboard queries run")

        # -- the quiet phase: no shipped rule is pending or firing on the healthy demo
        quiet_phase(quiet_prom, quiet_since)
        quiet_prometheus.send_signal(signal.SIGTERM)  # its work is done: the CPU goes to the fault phase

        # -- each fault fires its alert, names its culprit, and resolves
        status, body = http("GET", canopy_url + "/api/v1/workload/faults")
        culprits = {f["fault"]: f["culprit"] for f in json.loads(body)}
        for fault, alert, label in FAULTS:
            if prom.alerts(alert):
                fail(f"{alert} is active before {fault} was switched on: {prom.alerts(alert)}")
            status, body = http("PUT", f"{canopy_url}/api/v1/workload/faults/{fault}", {"enabled": True})
            if status != 200 or not json.loads(body)["enabled"]:
                fail(f"switching {fault} on: {status} {body}")
                continue
            culprit = json.loads(body)["culprit"]
            if culprit != culprits.get(fault):
                fail(f"{fault}: PUT names culprit {culprit}, GET named {culprits.get(fault)}")
            on_at = time.monotonic()
            log(f"{fault} on (culprit {culprit}); waiting for {alert}")
            # Waits for the culprit's alert: another series of the same rule may
            # fire first (a bounded cache still filling after boot, on a loaded
            # machine), and must not end the wait before the culprit's does.
            def culprit_firing():
                firing = [a for a in prom.alerts(alert) if a["state"] == "firing"]
                if label and not any(names(a["labels"].get(label), culprit) for a in firing):
                    return []
                return firing
            firing = wait_for(f"{alert} to fire", culprit_firing, FIRE_WITHIN_S)
            if not firing:
                fail(f"{fault}: no {alert} with {label or 'any label'}={culprit if label else ''} fired within "
                     f"{FIRE_WITHIN_S}s (state now: {prom.alerts(alert)})")
            else:
                log(f"{alert} firing after {time.monotonic() - on_at:.1f}s: {[a['labels'] for a in firing]}")
                # The top-N series need a poll or two after the alert.
                wait_for(f"{fault}'s culprit in the API and metrics",
                         lambda: not culprit_problems(fault, culprit, canopy_url, prom), 15, 1)
                for problem in culprit_problems(fault, culprit, canopy_url, prom):
                    fail(problem)
            status, body = http("PUT", f"{canopy_url}/api/v1/workload/faults/{fault}", {"enabled": False})
            if status != 200 or json.loads(body)["enabled"]:
                fail(f"switching {fault} off: {status} {body}")
            off_at = time.monotonic()
            if wait_for(f"{alert} to resolve", lambda: not prom.alerts(alert), RESOLVE_WITHIN_S, 1):
                log(f"{alert} resolved {time.monotonic() - off_at:.1f}s after {fault} went off")
            else:
                fail(f"{fault}: {alert} still active {RESOLVE_WITHIN_S}s after the fault went off: {prom.alerts(alert)}")
        if canopy.poll() is not None:
            fail(f"canopy exited with {canopy.returncode} during the test")
        if prometheus.poll() is not None:
            fail(f"prometheus exited with {prometheus.returncode} during the test")
    finally:
        aborted = sys.exc_info()[0] is not None
        started.stop_all()
        if failures or aborted:
            started.dump_logs()
    canopy_exit = started.procs[0][1].returncode
    if canopy_exit != 0:
        fail(f"canopy exited with {canopy_exit} on SIGTERM (want 0)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--canopy", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    for tool in (args.canopy, args.prometheus, args.promtool):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"e2e: {tool} is not an executable (install Debian's prometheus package)")
    work = tempfile.mkdtemp(prefix="canopy-e2e-")
    try:
        run(args, work)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    exit_on_failures("e2e")


if __name__ == "__main__":
    main()
