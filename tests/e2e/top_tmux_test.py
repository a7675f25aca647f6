#!/usr/bin/env python3
"""`canopy top` in a real terminal: tmux (new-session, send-keys, capture-pane) against the demo.

Starts `canopy run` with the example config on a free loopback port, then
`canopy top` inside a detached tmux session of a fixed size on its own
socket (-L). Checks:
  - the header (processes/limit, memory, utilization, run queues) and
    order_intake appear;
  - during mailbox_flood, pressing h then m puts slow_ledger on top;
  - '/' with "ledger" and Enter filters the table to slow_ledger;
  - q quits with exit code 0 and the terminal is given back (alternate
    screen left, `stty -a` shows icanon and echo again); Ctrl-C too, exit 130;
  - `canopy top --once` (and a piped stdout) print one plain table;
  - a URL that does not answer is an error naming it, exit 1.
The tmux server is killed by its socket name at the end.
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_test as e2e  # noqa: E402

TOKEN = "top-test-token"


def put_fault(port, fault, on):
    e2e.set_fault(port, fault, on, token=TOKEN, label="top")


class Tmux:
    def __init__(self, socket):
        self.socket = socket
        self.env = dict(os.environ, TERM=os.environ.get("TERM") or "xterm-256color")
        self.env.pop("TMUX", None)

    def __call__(self, *args, check=True):
        r = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], env=self.env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        if check and r.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def screen(self):
        return self("capture-pane", "-p", "-t", "top")

    def kill_server(self):
        self("kill-server", check=False)


def first_row(screen):
    """The NAME of the first process row below the PID header, or ''."""
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("PID ") and i + 1 < len(lines):
            parts = lines[i + 1].split()
            return parts[1] if len(parts) > 1 else ""
    return ""


def rows(screen):
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("PID "):
            return [ln.split()[1] for ln in lines[i + 1:] if len(ln.split()) > 1 and ln.startswith("<")]
    return []


def check_cooked(stty_file, how):
    """The terminal after top: canonical mode and echo back on."""
    modes = open(stty_file).read().split()
    for mode in ("icanon", "echo", "ixon", "icrnl"):
        if mode not in modes:
            e2e.fail(f"top: after {how} the terminal is left without {mode} (stty -a: {' '.join(modes)[:300]})")


def run(args, work):
    os.environ["CANOPY_ADMIN_TOKEN"] = TOKEN
    started = e2e.Started()
    tmux = Tmux(f"canopy-top-{os.getpid()}")
    try:
        canopy, port = e2e.start_demo(started, args.canopy, args.source, work, "top")
        url = f"http://127.0.0.1:{port}"
        exit_file = os.path.join(work, "exit")
        stty_file = os.path.join(work, "stty")
        # After top: its exit code, and the terminal's modes (raw mode undone?).
        command = f"{args.canopy} top --url {url}; echo EXIT=$? > {exit_file}.tmp; stty -a > {stty_file}; " \
                  f"mv {exit_file}.tmp {exit_file}; sleep 30"
        tmux("new-session", "-d", "-s", "top", "-x", "160", "-y", "48", command)

        header = re.compile(r"processes \d+/\S+ \(")
        screen = e2e.wait_for("the header and order_intake", lambda: (lambda s: s if header.search(s) and
                              "order_intake" in s else None)(tmux.screen()), 30, 0.3)
        if not screen:
            e2e.fail(f"top: no header with order_intake on the screen:\n{tmux.screen()}")
        else:
            for needle in ("memory:", "utilization:", "run queues:", "sort: mailbox", "PID ", "MAILBOX"):
                if needle not in screen:
                    e2e.fail(f"top: the header has no {needle!r}:\n{screen}")
            e2e.log("top's first screen:\n" + "\n".join(screen.splitlines()[:8]))

        put_fault(port, "mailbox_flood", True)
        tmux("send-keys", "-t", "top", "h")
        if not e2e.wait_for("sort: heap", lambda: "sort: heap" in tmux.screen(), 10, 0.2):
            e2e.fail(f"top: h did not sort by heap:\n{tmux.screen()}")
        tmux("send-keys", "-t", "top", "m")
        if not e2e.wait_for("slow_ledger on top", lambda: "sort: mailbox" in tmux.screen() and
                            first_row(tmux.screen()) == "slow_ledger", 20, 0.3):
            e2e.fail(f"top: during mailbox_flood, sorted by mailbox, the first row is "
                     f"{first_row(tmux.screen())!r}:\n{tmux.screen()}")
        put_fault(port, "mailbox_flood", False)

        tmux("send-keys", "-t", "top", "/")
        tmux("send-keys", "-t", "top", "-l", "ledger")
        tmux("send-keys", "-t", "top", "Enter")
        if not e2e.wait_for("the filter", lambda: rows(tmux.screen()) == ["slow_ledger"], 10, 0.3):
            e2e.fail(f"top: filtering by 'ledger' shows {rows(tmux.screen())}:\n{tmux.screen()}")

        tmux("send-keys", "-t", "top", "q")
        if not e2e.wait_for("top to quit", lambda: os.path.exists(exit_file) and open(exit_file).read().strip(), 10,
                            0.2):
            e2e.fail("top: q did not quit")
        else:
            code = open(exit_file).read().strip()
            if code != "EXIT=0":
                e2e.fail(f"top: q quit with {code} (want EXIT=0)")
            after = tmux.screen()
            if "PID " in after and "MAILBOX" in after:
                e2e.fail(f"top: after q the table is still on the screen (alternate screen not left):\n{after}")
            check_cooked(stty_file, "q")

        # SIGINT (Ctrl-C) also gives the terminal back, exit 130.
        exit2, stty2 = exit_file + "2", stty_file + "2"
        tmux("new-session", "-d", "-s", "top2", "-x", "120", "-y", "30",
             f"{args.canopy} top --url {url}; echo EXIT=$? > {exit2}.tmp; stty -a > {stty2}; mv {exit2}.tmp {exit2}; "
             "sleep 30")
        if not e2e.wait_for("the second top", lambda: "PID " in tmux("capture-pane", "-p", "-t", "top2"), 20, 0.3):
            e2e.fail("top: the second session never drew its table")
        tmux("send-keys", "-t", "top2", "C-c")
        if not e2e.wait_for("top to stop on Ctrl-C", lambda: os.path.exists(exit2), 10, 0.2):
            e2e.fail("top: Ctrl-C did not stop it")
        else:
            if open(exit2).read().strip() != "EXIT=130":
                e2e.fail(f"top: Ctrl-C exit {open(exit2).read().strip()} (want EXIT=130)")
            check_cooked(stty2, "Ctrl-C")

        once = subprocess.run([args.canopy, "top", "--once", "--url", url, "--match", "order", "--limit", "20"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        if once.returncode != 0 or "PID " not in once.stdout or "order_intake" not in once.stdout or \
                "\x1b[" in once.stdout:
            e2e.fail(f"top --once: exit {once.returncode}, stdout {once.stdout!r}, stderr {once.stderr!r}")
        piped = subprocess.run([args.canopy, "top", "--url", url, "--sort", "heap"], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
        if piped.returncode != 0 or "sort: heap" not in piped.stdout or "PID " not in piped.stdout:
            e2e.fail(f"top with a piped stdout: exit {piped.returncode}, stdout {piped.stdout[:400]!r}")

        dead = f"http://127.0.0.1:{e2e.free_port()}"
        gone = subprocess.run([args.canopy, "top", "--once", "--url", dead], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
        if gone.returncode != 1 or dead not in gone.stderr:
            e2e.fail(f"top against {dead}: exit {gone.returncode} (want 1), stderr {gone.stderr!r}")
        bad = subprocess.run([args.canopy, "top", "--sort", "age"], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=30)
        if bad.returncode != 2 or "--sort must be" not in bad.stderr:
            e2e.fail(f"top --sort age: exit {bad.returncode} (want 2), stderr {bad.stderr!r}")
        if canopy.poll() is not None:
            e2e.fail(f"canopy exited with {canopy.returncode} during the test")
    finally:
        tmux.kill_server()
        started.stop_all()
        if e2e.failures:
            started.dump_logs()
    if started.procs and started.procs[0][1].returncode != 0:
        e2e.fail(f"canopy exited with {started.procs[0][1].returncode} on SIGTERM (want 0)")


def need_tmux(_args):
    if not shutil.which("tmux"):
        raise SystemExit("top: tmux is not installed (apt-get install tmux)")


def main():
    e2e.main_in_workdir("top", __doc__, run, check=need_tmux)


if __name__ == "__main__":
    main()
