#!/usr/bin/env python3
"""canopy as a library: install, build examples/session_service against it, lint its /metrics.

1. `cmake --install` of the already built tree (nothing is rebuilt) into a
   temporary prefix.
2. Configures and builds examples/session_service, a project of its own that
   finds canopy with `find_package(canopy REQUIRED)` from that prefix only.
3. Runs it on a free loopback port, scrapes /metrics until the example's own
   series are there (its table, its supervisors), and checks the scrape with
   `promtool check metrics`; stops it with SIGTERM and requires exit 0.

Standard library only; everything it starts is stopped by pid.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_test as e2e  # noqa: E402

# Series the example's tree and table must produce (names from the metric table).
WANT = [
    r'^canopy_table_entries\{[^}]*table="sessions"',
    r'^canopy_processes\{[^}]*node="session-1"',
    r'^canopy_supervisor_restart_budget_remaining\{[^}]*supervisor="clients_sup"',
]


def run(args, work):
    prefix = os.path.join(work, "prefix")
    subprocess.run([args.cmake, "--install", args.build_dir, "--prefix", prefix],
                   check=True, timeout=120, stdout=subprocess.DEVNULL)
    headers = os.path.join(prefix, "include", "canopy", "core", "core.hpp")
    if not os.path.exists(headers):
        raise SystemExit(f"library: the install has no {headers}")
    e2e.log(f"installed canopy into {prefix}")

    build = os.path.join(work, "build")
    example = os.path.join(args.source, "examples", "session_service")
    # Only the prefix: the source tree's include directories must not be needed.
    subprocess.run([args.cmake, "-S", example, "-B", build, "-G", args.generator,
                    f"-DCMAKE_CXX_COMPILER={args.cxx}", f"-DCMAKE_PREFIX_PATH={prefix}",
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, timeout=120, stdout=subprocess.DEVNULL)
    subprocess.run([args.cmake, "--build", build], check=True, timeout=600)
    e2e.log("built examples/session_service against the installed canopy")

    started = e2e.Started()
    try:
        log_path = os.path.join(work, "session_service.log")
        service = started.start("session_service", [os.path.join(build, "session_service"),
                                                     "--listen", "127.0.0.1:0"], log_path)
        url = f"http://127.0.0.1:{e2e.logged_port(service, log_path, 'session_service', 'library')}/metrics"

        def scrape_with_all():
            status, body = e2e.http("GET", url)
            if status == 200 and all(re.search(w, body, re.M) for w in WANT):
                return body
            return None
        body = e2e.wait_for("the example's series in /metrics", scrape_with_all, 30)
        if not body:
            status, body = e2e.http("GET", url)
            missing = [w for w in WANT if not re.search(w, body, re.M)]
            e2e.fail(f"/metrics ({status}) lacks {missing}")
        else:
            lint = subprocess.run([args.promtool, "check", "metrics"], input=body.encode(),
                                  capture_output=True, timeout=60)
            if lint.returncode != 0:
                e2e.fail("promtool check metrics: " + (lint.stdout + lint.stderr).decode(errors="replace"))
            else:
                e2e.log(f"promtool check metrics accepts the example's /metrics ({len(body)} bytes)")
    finally:
        started.stop_all()
        if e2e.failures:
            started.dump_logs()
    if started.procs and started.procs[0][1].returncode != 0:
        e2e.fail(f"session_service exited with {started.procs[0][1].returncode} on SIGTERM (want 0)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True)
    ap.add_argument("--build-dir", required=True, help="the built canopy tree to install from")
    ap.add_argument("--cmake", default=shutil.which("cmake") or "cmake")
    ap.add_argument("--generator", default="Ninja")
    ap.add_argument("--cxx", default="c++")
    ap.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="canopy-library-")
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    e2e.exit_on_failures("library")


if __name__ == "__main__":
    main()
