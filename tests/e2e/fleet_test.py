#!/usr/bin/env python3
"""End-to-end: a fleet of three canopy nodes, Prometheus and VictoriaMetrics.

1. Three `canopy run` nodes (node-a, node-b, node-c: node.name) on free
   loopback ports, each with the example config, a lighter demo workload and
   the shipped alert rules with short `for` and windows (e2e_test.shorten).
2. A real Prometheus with config/prometheus/fleet.yml, rewritten only where
   it must be: temp paths, 1 s scrapes and evaluations, the test's
   VictoriaMetrics as the remote_write URL, no Alertmanager. The nodes are
   file_sd targets, each with its `node` label.
3. A real victoria-metrics (Debian's package) on a free loopback port with a
   temp storage dir, as the remote_write target.
4. Requires: each node's canopy_processes in VictoriaMetrics within 30 s;
   every dashboard query, with $node set to each node in turn, to return data
   from VictoriaMetrics' Prometheus query API, and only that node's series
   where it splits by node; with every node selected, every node in the split
   (but for the fleet's top N); no exported_node label (honor_labels keeps
   the node's own).
5. A global Prometheus with config/prometheus/federation.yml federating the
   first one: every node's series arrive with `node` and the site's
   `prometheus` label.
6. Switches the `orphans` fault on in node-b only: CanopyOrphanProcesses must
   fire in Prometheus with node="node-b" and on no other node, and the
   firing ALERTS series must reach VictoriaMetrics and the global Prometheus
   with node="node-b" only.

Everything it starts is stopped by pid. Standard library only.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_test as e2e  # noqa: E402

NODES = ["node-a", "node-b", "node-c"]
FAULTY = "node-b"
FAULT, ALERT = "orphans", "CanopyOrphanProcesses"
ARRIVE_WITHIN_S = 30
FIRE_WITHIN_S = 45


def rewrite(text, replacements, what):
    """Each (pattern, replacement) applied once; a pattern that no longer matches is an error."""
    for pattern, repl in replacements:
        text, n = re.subn(pattern, repl, text, count=1)
        if n != 1:
            raise SystemExit(f"fleet: {what} changed shape: '{pattern}' matched {n} times")
    return text


def node_config(example_text, node):
    """The e2e test's short-rules config, named `node`, with a lighter demo (three share the machine)."""
    return rewrite(e2e.shorten(example_text), [
        (r"(?m)^(  name: )canopy$", rf"\g<1>{node}"),
        (r"(?m)^(  schedulers: )0$", r"\g<1>2"),
        (r"(?m)^(  workers: )50$", r"\g<1>10"),
        (r"(?m)^(  producers: )4$", r"\g<1>1"),
        (r"(?m)^(  message_rate: )2000$", r"\g<1>300"),
        (r"(?m)^(  table_entries: )10000$", r"\g<1>2000")], "config/canopy.example.yaml")


def fleet_prometheus_config(shipped, rules, targets_dir, vm_port):
    """config/prometheus/fleet.yml with the test's paths, timings and VictoriaMetrics."""
    return rewrite(shipped, [
        (r"(?m)^(  scrape_interval: )15s$", r"\g<1>1s\n  scrape_timeout: 900ms"),
        (r"(?m)^(  evaluation_interval: )15s$", r"\g<1>1s"),
        (r"(?m)^(    scrape_interval: )5s$", r"\g<1>1s"),
        (r"(?m)^  - canopy-rules\.yml$", f"  - '{rules}'"),
        (r"(?m)^alerting:\n(?:  .*\n)+", ""),
        (r'\["fleet-targets/\*\.json"\]', f"['{targets_dir}/*.json']"),
        (r"http://127\.0\.0\.1:8428/api/v1/write", f"http://127.0.0.1:{vm_port}/api/v1/write"),
        (r"(?m)^(      max_samples_per_send: .*)$", r"\g<1>\n      batch_send_deadline: 1s")],
        "config/prometheus/fleet.yml")


def federation_config(shipped, fleet_prom_port):
    """config/prometheus/federation.yml federating the test's fleet Prometheus, every second."""
    return rewrite(shipped, [
        (r"(?m)^(  scrape_interval: )30s$", r"\g<1>1s"),
        (r"(?m)^(  evaluation_interval: )30s$", r"\g<1>1s"),
        (r"(?m)^(    scrape_interval: )30s$", r"\g<1>1s"),
        (r"(?m)^(    scrape_timeout: )25s$", r"\g<1>900ms"),
        (r'\["prometheus-site-1:9090", "prometheus-site-2:9090"\]', f"['127.0.0.1:{fleet_prom_port}']")],
        "config/prometheus/federation.yml")


def start_server(started, name, argv_for_port, ready_path, work, attempts=3):
    """Starts a server on a free port (another port if it exits at once); its process and port."""
    for attempt in range(attempts):
        port = e2e.free_port()
        proc = started.start(name, argv_for_port(port), os.path.join(work, f"{name}-{attempt}.log"))
        if e2e.wait_for(f"{name} to serve",
                        lambda: proc.poll() is not None or e2e.http("GET", f"http://127.0.0.1:{port}{ready_path}")[0] == 200,
                        60):
            if proc.poll() is None:
                return proc, port
        e2e.log(f"{name} exited with {proc.returncode} on port {port}; trying another port")
    raise SystemExit(f"fleet: {name} would not start (see its logs)")


def node_values(result):
    return sorted({r["metric"].get("node", "") for r in result})


def check_dashboards(source, vm, instances):
    """Every dashboard query, per node and for All, against VictoriaMetrics."""
    every = "|".join(NODES)  # as Grafana writes a multi-value selection
    base = {"job": "canopy", "__rate_interval": "10s", "process": "slow_ledger", "table": "order_cache",
            "supervisor": "workers_sup"}
    checked = 0
    for dash, title, expr in e2e.dashboard_queries(source):
        split_by_node = False
        for node in NODES:
            q = e2e.substitute(expr, dict(base, node=node, instance=instances[node]))
            try:
                result = vm.query(q)
            except RuntimeError as e:
                e2e.fail(f"{dash} / {title} ({node}): {e}")
                continue
            checked += 1
            if not result:
                e2e.fail(f"{dash} / {title}: no data in VictoriaMetrics for {node}: {q}")
                continue
            labelled = [r for r in result if "node" in r["metric"]]
            split_by_node = split_by_node or bool(labelled)
            others = sorted({r["metric"]["node"] for r in labelled} - {node})
            if others:
                e2e.fail(f"{dash} / {title}: $node={node} returns series of {others}: {q}")
            if any("exported_node" in r["metric"] for r in result):
                e2e.fail(f"{dash} / {title}: exported_node in the result (honor_labels lost?): {q}")
        # A top-N is the fleet's top N: it may well leave nodes out.
        if split_by_node and "topk(" not in expr:
            q = e2e.substitute(expr, dict(base, node=every, instance=".*"))
            try:
                got = node_values(vm.query(q))
            except RuntimeError as e:
                e2e.fail(f"{dash} / {title} (All): {e}")
                continue
            checked += 1
            if got != NODES:
                e2e.fail(f"{dash} / {title}: with every node selected the split has nodes {got}: {q}")
    e2e.log(f"{checked} dashboard queries run against VictoriaMetrics")


def run(args, work):
    with open(os.path.join(args.source, "config", "canopy.example.yaml")) as f:
        example = f.read()
    started = e2e.Started()
    try:
        # -- three nodes
        urls, instances, rules = {}, {}, None
        for node in NODES:
            node_dir = os.path.join(work, node)
            os.makedirs(node_dir)
            cfg = os.path.join(node_dir, "canopy.yaml")
            with open(cfg, "w") as f:
                f.write(node_config(example, node))
            if rules is None:  # the same rules for every node: render them once
                rules = os.path.join(work, "rules.yml")
                subprocess.run([args.canopy, "rules", cfg, "-o", rules], check=True, timeout=60)
                e2e.check_rules_are_short(open(rules).read())
            _, port = e2e.start_canopy(started, args.canopy, cfg, node_dir, f"fleet {node}")
            urls[node] = f"http://127.0.0.1:{port}"
            instances[node] = f"127.0.0.1:{port}"
        for node in NODES:
            if not e2e.wait_for(f"{node} /readyz", lambda: e2e.http("GET", urls[node] + "/readyz")[0] == 200, 60):
                e2e.fail(f"{node} never became ready")

        # -- VictoriaMetrics, then Prometheus writing into it
        vm_proc, vm_port = start_server(started, "victoria-metrics", lambda p: [
            args.victoria_metrics, f"-httpListenAddr=127.0.0.1:{p}",
            f"-storageDataPath={os.path.join(work, 'vm-data')}", "-retentionPeriod=1d",
            # Samples are queryable at once (the default hides the last 30 s).
            "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN"], "/health", work)
        vm = e2e.Prom(vm_port)

        targets_dir = os.path.join(work, "fleet-targets")
        os.makedirs(targets_dir)
        with open(os.path.join(targets_dir, "nodes.json"), "w") as f:
            json.dump([{"targets": [instances[n]], "labels": {"node": n}} for n in NODES], f)
        with open(os.path.join(args.source, "config", "prometheus", "fleet.yml")) as f:
            prom_text = fleet_prometheus_config(f.read(), rules, targets_dir, vm_port)
        prom_cfg = os.path.join(work, "fleet.yml")
        with open(prom_cfg, "w") as f:
            f.write(prom_text)
        subprocess.run([args.promtool, "check", "config", prom_cfg], check=True, timeout=60, stdout=subprocess.DEVNULL)
        prom_proc, prom_port = start_server(started, "prometheus", lambda p: [
            args.prometheus, f"--config.file={prom_cfg}", f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
            f"--web.listen-address=127.0.0.1:{p}", "--log.level=warn"], "/-/ready", work)
        prom = e2e.Prom(prom_port)
        prom_at = time.monotonic()

        # -- each node's canopy_processes reaches VictoriaMetrics
        def arrived():
            return node_values(vm.query('canopy_processes{job="canopy"}')) == NODES
        if e2e.wait_for("canopy_processes of every node in VictoriaMetrics", arrived, ARRIVE_WITHIN_S, 0.5):
            e2e.log(f"canopy_processes of {NODES} in VictoriaMetrics {time.monotonic() - prom_at:.1f}s "
                    "after Prometheus started")
        else:
            raise SystemExit(f"fleet: canopy_processes of every node not in VictoriaMetrics within {ARRIVE_WITHIN_S}s: "
                             f"{node_values(vm.query('canopy_processes'))}; Prometheus targets up: {prom.target_up()}")
        # -- a global Prometheus federating the fleet's (federation.yml)
        with open(os.path.join(args.source, "config", "prometheus", "federation.yml")) as f:
            global_text = federation_config(f.read(), prom_port)
        global_cfg = os.path.join(work, "federation.yml")
        with open(global_cfg, "w") as f:
            f.write(global_text)
        subprocess.run([args.promtool, "check", "config", global_cfg], check=True, timeout=60, stdout=subprocess.DEVNULL)
        _, global_port = start_server(started, "prometheus-global", lambda p: [
            args.prometheus, f"--config.file={global_cfg}", f"--storage.tsdb.path={os.path.join(work, 'tsdb-global')}",
            f"--web.listen-address=127.0.0.1:{p}", "--log.level=warn"], "/-/ready", work)
        global_prom = e2e.Prom(global_port)

        up = vm.query('up{job="canopy"} == 1')
        if node_values(up) != NODES:
            e2e.fail(f"up in VictoriaMetrics carries nodes {node_values(up)}, want {NODES} (the file_sd labels)")

        # Federated series keep node and gain the site Prometheus's external label.
        def every_node_federated():
            result = global_prom.query('canopy_processes{job="canopy"}')
            return result if node_values(result) == NODES else None
        federated = e2e.wait_for("canopy_processes of every node in the global Prometheus", every_node_federated, 30)
        if not federated:
            e2e.fail("the global Prometheus (federation.yml) lacks canopy_processes of some node: "
                     f"{node_values(global_prom.query('canopy_processes'))}")
        elif any(r["metric"].get("prometheus") != "site-1" or "exported_node" in r["metric"] for r in federated):
            e2e.fail(f"federated series lost their labels: {[r['metric'] for r in federated]}")
        else:
            e2e.log(f"the global Prometheus federates canopy_processes of {NODES} (prometheus=site-1)")

        # -- every dashboard query, per node, against VictoriaMetrics
        e2e.wait_for("20 s of samples in VictoriaMetrics",
                     lambda: len(vm.query('count_over_time(up{job="canopy"}[30s]) >= 15')) == len(NODES), 60)
        check_dashboards(args.source, vm, instances)

        # -- a fault on one node fires its alert with that node only
        if prom.alerts(ALERT):
            e2e.fail(f"{ALERT} active before {FAULT} was switched on: {prom.alerts(ALERT)}")
        status, body = e2e.http("PUT", f"{urls[FAULTY]}/api/v1/workload/faults/{FAULT}", {"enabled": True})
        if status != 200 or not json.loads(body)["enabled"]:
            raise SystemExit(f"fleet: switching {FAULT} on in {FAULTY}: {status} {body}")
        on_at = time.monotonic()
        firing = e2e.wait_for(f"{ALERT} to fire", lambda: [a for a in prom.alerts(ALERT) if a["state"] == "firing"],
                              FIRE_WITHIN_S)
        if not firing:
            e2e.fail(f"{ALERT} did not fire within {FIRE_WITHIN_S}s of {FAULT} on {FAULTY}: {prom.alerts(ALERT)}")
        else:
            e2e.log(f"{ALERT} firing after {time.monotonic() - on_at:.1f}s: {[a['labels'] for a in firing]}")
            # A few more evaluations: still the faulty node only.
            time.sleep(5)
            nodes = sorted({a["labels"].get("node", "") for a in prom.alerts(ALERT)})
            if nodes != [FAULTY]:
                e2e.fail(f"{ALERT} is active for nodes {nodes}, want [{FAULTY!r}] only: {prom.alerts(ALERT)}")
            in_vm = e2e.wait_for(f"the firing {ALERT} in VictoriaMetrics", lambda: vm.query(
                f'ALERTS{{alertname="{ALERT}", alertstate="firing"}}'), 30)
            if node_values(in_vm or []) != [FAULTY]:
                e2e.fail(f"ALERTS{{alertname={ALERT!r}}} in VictoriaMetrics has nodes {node_values(in_vm or [])}, "
                         f"want [{FAULTY!r}]")
            in_global = e2e.wait_for(f"the firing {ALERT} in the global Prometheus", lambda: global_prom.query(
                f'ALERTS{{alertname="{ALERT}", alertstate="firing"}}'), 30)
            if node_values(in_global or []) != [FAULTY]:
                e2e.fail(f"ALERTS{{alertname={ALERT!r}}} federated to the global Prometheus has nodes "
                         f"{node_values(in_global or [])}, want [{FAULTY!r}]")
            else:
                e2e.log(f"the firing {ALERT} of {FAULTY} only, in VictoriaMetrics and the global Prometheus")
        e2e.http("PUT", f"{urls[FAULTY]}/api/v1/workload/faults/{FAULT}", {"enabled": False})

        for name, p in [("victoria-metrics", vm_proc), ("prometheus", prom_proc)] + \
                [(n, started.procs[i][1]) for i, n in enumerate(NODES)]:
            if p.poll() is not None:
                e2e.fail(f"{name} exited with {p.returncode} during the test")
    finally:
        aborted = sys.exc_info()[0] is not None
        started.stop_all()
        if e2e.failures or aborted:
            started.dump_logs()
    for i, node in enumerate(NODES):
        if started.procs[i][1].returncode != 0:
            e2e.fail(f"{node} exited with {started.procs[i][1].returncode} on SIGTERM (want 0)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--canopy", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    ap.add_argument("--victoria-metrics", default=shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    for tool in (args.canopy, args.prometheus, args.promtool, args.victoria_metrics):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"fleet: {tool} is not an executable (install Debian's prometheus and "
                             "victoria-metrics packages)")
    work = tempfile.mkdtemp(prefix="canopy-fleet-")
    start = time.monotonic()
    try:
        run(args, work)
    finally:
        if args.keep:
            e2e.log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    e2e.log(f"ran for {time.monotonic() - start:.0f}s")
    e2e.exit_on_failures("fleet")


if __name__ == "__main__":
    main()
