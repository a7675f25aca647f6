#!/usr/bin/env python3
"""The observer page in a real browser: Debian's chromium, headless, through chromedriver.

Starts `canopy run` with the example config (an admin token set) on a free
loopback port and chromedriver on another, and drives the page over the
WebDriver HTTP protocol with the standard library only. Checks:
  - the processes table lists order_intake;
  - after mailbox_flood is switched on, sorting by mailbox puts slow_ledger first;
  - the supervision tree shows flaky_sup, and after crash_loop shows it
    restarting / failed;
  - the detail view of order_intake shows its links as pids that open their
    own detail;
  - kill without the token is refused on the page (the server's 401 text
    and the token form shown, the process alive), and with the token typed
    into the form it is sent;
  - the tables view lists session_cache;
  - no JavaScript error in the console;
  - once canopy stops, the page shows its "disconnected" banner.
A PNG screenshot of each view goes to --out-dir (the build folder).
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_test as e2e  # noqa: E402

TOKEN = "observer-test-token"
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element key


class WebDriver:
    """The few WebDriver commands the test needs, as JSON over HTTP."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None, timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read().decode())["value"]
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"webdriver {method} {path}: {e.code} {e.read().decode()[:500]}")

    def start(self, work):
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": shutil.which("chromium") or "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,860",
                         "--user-data-dir=" + os.path.join(work, "chromium-profile"),
                         "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage"]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        value = self.call("POST", "/session", caps, timeout=60)
        self.session = value["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def get(self, url):
        self.call("POST", self.s("/url"), {"url": url})

    def run(self, script, *args):
        return self.call("POST", self.s("/execute/sync"), {"script": script, "args": list(args)})

    def find(self, css):
        found = self.call("POST", self.s("/element"), {"using": "css selector", "value": css})
        if not isinstance(found, dict) or not (found.get(ELEMENT) or found.get("ELEMENT")):
            raise RuntimeError(f"webdriver: no element {css!r}: {found}")
        return found.get(ELEMENT) or found.get("ELEMENT")

    def click(self, css):
        # The page redraws parts of itself every second: an element found a
        # moment ago may be gone (stale); find it again.
        for attempt in range(5):
            try:
                self.call("POST", self.s(f"/element/{self.find(css)}/click"), {})
                return
            except RuntimeError as e:
                if "stale element" not in str(e) or attempt == 4:
                    raise
                time.sleep(0.1)

    def type(self, css, text):
        self.call("POST", self.s(f"/element/{self.find(css)}/value"), {"text": text})

    def screenshot(self, path):
        png = base64.b64decode(self.call("GET", self.s("/screenshot")))
        with open(path, "wb") as f:
            f.write(png)
        e2e.log(f"screenshot {path} ({len(png) // 1024} KiB)")

    def browser_log(self):
        for path in ("/se/log", "/log"):
            try:
                return self.call("POST", self.s(path), {"type": "browser"})
            except RuntimeError:
                continue
        raise RuntimeError("chromedriver offers neither /se/log nor /log")

    def quit(self):
        if self.session:
            try:
                self.call("DELETE", self.s(""), timeout=20)
            except (OSError, RuntimeError):
                pass


def put_fault(port, fault, on):
    e2e.set_fault(port, fault, on, token=TOKEN, label="observer_browser")


def pid_of(port, name):
    status, body = e2e.http("GET", f"http://127.0.0.1:{port}/api/v1/processes?match={name}&limit=10")
    for p in json.loads(body)["processes"]:
        if p["name"] == name:
            return p["pid"]
    return None


ROW_NAMES = "return [...document.querySelectorAll('#proc-table tbody tr')].map(r => r.dataset.name || '')"


def run(args, work):
    os.environ["CANOPY_ADMIN_TOKEN"] = TOKEN
    os.makedirs(args.out_dir, exist_ok=True)
    started = e2e.Started()
    driver = None
    try:
        canopy, port = e2e.start_demo(started, args.canopy, args.source, work, "observer_browser")
        url = f"http://127.0.0.1:{port}/"
        if not e2e.wait_for("order_intake", lambda: pid_of(port, "order_intake"), 30):
            raise SystemExit("observer_browser: the demo never registered order_intake")
        cd_port = e2e.free_port()
        cd = started.start("chromedriver", [args.chromedriver, f"--port={cd_port}"],
                           os.path.join(work, "chromedriver.log"))
        driver = WebDriver(cd_port)
        if not e2e.wait_for("chromedriver", lambda: driver.call("GET", "/status", timeout=2).get("ready"), 20, 0.2):
            raise SystemExit(f"observer_browser: chromedriver (pid {cd.pid}) never became ready")
        driver.start(work)
        shot = lambda name: driver.screenshot(os.path.join(args.out_dir, f"{name}.png"))  # noqa: E731

        # -- system: the charts fill for a few seconds
        driver.get(url + "#/system")
        if not e2e.wait_for("the system view's numbers", lambda: "/" in driver.run(
                "return document.getElementById('sys-procs').textContent"), 15):
            e2e.fail("system view: the process count never showed")
        time.sleep(4)
        legend = driver.run("return document.getElementById('legend-util').textContent")
        if "scheduler 1" not in legend or "%" not in legend:
            e2e.fail(f"system view: the utilization chart has no per-scheduler series: {legend!r}")
        shot("system")

        # -- processes: order_intake listed
        driver.get(url + "#/processes")
        if not e2e.wait_for("order_intake in the table", lambda: "order_intake" in driver.run(ROW_NAMES), 15):
            e2e.fail(f"processes view: order_intake is not listed: {driver.run(ROW_NAMES)}")
        shot("processes")
        driver.type("#proc-filter", "ledger")
        if not e2e.wait_for("the filter", lambda: driver.run(ROW_NAMES) == ["slow_ledger"], 10):
            e2e.fail(f"processes view: filtering by 'ledger' lists {driver.run(ROW_NAMES)}")
        driver.run("const f = document.getElementById('proc-filter'); f.value = '';"
                   "f.dispatchEvent(new Event('input'));")

        # -- mailbox_flood: sorted by mailbox, slow_ledger first
        put_fault(port, "mailbox_flood", True)
        driver.click("#proc-table th[data-sort='heap']")
        time.sleep(1.5)
        driver.click("#proc-table th[data-sort='mailbox']")
        first = lambda: (driver.run(ROW_NAMES) or [""])[0]  # noqa: E731
        if not e2e.wait_for("slow_ledger first by mailbox", lambda: first() == "slow_ledger", 20):
            e2e.fail(f"processes view: during mailbox_flood, sorted by mailbox, the first row is {first()!r}")
        sorted_by = driver.run("const th = document.querySelector('#proc-table th.sorted');"
                               "return th ? th.dataset.sort : ''")
        if sorted_by != "mailbox":
            e2e.fail(f"processes view: the sorted column is {sorted_by!r}, not mailbox")
        shot("processes_mailbox_flood")
        put_fault(port, "mailbox_flood", False)

        # -- detail: order_intake's links, clickable
        intake = pid_of(port, "order_intake")
        driver.get(url + "#/process/" + intake.strip("<>"))
        links = lambda: driver.run(  # noqa: E731
            "return [...document.querySelectorAll(\"dd[data-field='links'] a.pid\")].map(a => a.textContent)")
        got = e2e.wait_for("order_intake's links", links, 15)
        if not got:
            e2e.fail("detail view: order_intake shows no links")
        chain = driver.run("const d = document.querySelector(\"dd[data-field='supervisor chain']\");"
                           "return d ? d.textContent : ''")
        if "order_intake" not in chain or "application" not in chain:
            e2e.fail(f"detail view: the supervisor chain of order_intake reads {chain!r}")
        shot("process_detail")
        if got:
            driver.click("dd[data-field='links'] a.pid")
            if not e2e.wait_for("the linked pid's detail", lambda: driver.run(
                    "return document.getElementById('detail-title').textContent").startswith("process " + got[0]), 10):
                e2e.fail(f"detail view: clicking the link {got[0]} did not open its detail")

        # -- kill without the token: refused on the page; with it: sent
        ledger = pid_of(port, "slow_ledger")
        driver.get(url + "#/process/" + ledger.strip("<>"))
        e2e.wait_for("slow_ledger's detail", lambda: driver.run(
            "return document.getElementById('detail-title').textContent").find("slow_ledger") >= 0, 10)
        driver.click("#btn-kill")
        msg = lambda: driver.run(  # noqa: E731
            "const m = document.getElementById('admin-msg'); return m.hidden ? '' : m.textContent")
        refusal = e2e.wait_for("the kill refusal", lambda: msg() if "refused" in msg() else None, 10)
        if not refusal or "HTTP 401" not in refusal or "Bearer" not in refusal:
            e2e.fail(f"kill without the token: the page says {msg()!r} (want the server's 401 refusal)")
        if driver.run("return document.getElementById('token-form').hidden"):
            e2e.fail("kill without the token: the page does not ask for the token")
        time.sleep(0.5)
        if pid_of(port, "slow_ledger") != ledger:
            e2e.fail("kill without the token: slow_ledger was killed anyway")
        shot("process_kill_refused")
        driver.type("#token-input", TOKEN)
        driver.click("#token-form button")
        driver.click("#btn-kill")
        if not e2e.wait_for("the kill with the token", lambda: "sent kill to" in msg(), 10):
            e2e.fail(f"kill with the token: the page says {msg()!r}")
        if not e2e.wait_for("slow_ledger restarted", lambda: (lambda p: p and p != ledger)(pid_of(port, "slow_ledger")),
                            15):
            e2e.fail("kill with the token: slow_ledger still has its old pid")

        # -- trace (the token is kept for the tab): the traced lines show up
        driver.get(url + "#/process/" + intake.strip("<>"))
        e2e.wait_for("order_intake's detail", lambda: "order_intake" in driver.run(
            "return document.getElementById('detail-title').textContent"), 10)
        driver.click("#btn-trace")
        lines = "return document.getElementById('trace-lines').textContent"
        if not e2e.wait_for("trace lines", lambda: " from " in driver.run(lines) or " to " in driver.run(lines), 15):
            e2e.fail(f"trace: no traced lines on the page: {driver.run(lines)!r}, {msg()!r}")
        shot("process_trace")
        driver.click("#btn-trace")
        if not e2e.wait_for("trace off", lambda: "trace off for" in msg(), 10):
            e2e.fail(f"trace: turning it off says {msg()!r}")

        # -- the tree: flaky_sup, then restarting / failed under crash_loop
        driver.get(url + "#/tree")
        has_flaky = "return !!document.querySelector(\"details.sup[data-name='flaky_sup']\")"
        if not e2e.wait_for("flaky_sup in the tree", lambda: driver.run(has_flaky), 15):
            e2e.fail("tree view: flaky_sup is not shown")
        # Collapsible: workers_sup folded stays folded across refreshes.
        driver.click("details.sup[data-name='workers_sup'] > summary")
        time.sleep(2.2)
        if driver.run("const d = document.querySelector(\"details.sup[data-name='workers_sup']\"); return d && d.open"):
            e2e.fail("tree view: workers_sup did not stay collapsed after a click and two refreshes")
        shot("tree")
        put_fault(port, "crash_loop", True)
        troubled = ("const li = document.querySelector(\"li.child[data-id='flaky_sup']\");"
                    "const d = document.querySelector(\"details.sup[data-name='flaky_sup']\");"
                    "const shown = li ? li.dataset.shown : '';"
                    "const text = li ? li.textContent : '';"
                    "return ['restarting', 'failed'].includes(shown) || (d && d.textContent.includes('intensity exceeded'))"
                    " ? shown + ': ' + text : '';")
        seen = e2e.wait_for("flaky_sup restarting or failed", lambda: driver.run(troubled), 20, 0.25)
        if not seen:
            e2e.fail("tree view: after crash_loop flaky_sup never shows restarting or failed")
        else:
            e2e.log(f"tree under crash_loop: {seen[:160]!r}")
        driver.run("document.querySelector(\"li.child[data-id='flaky_sup']\").scrollIntoView()")
        shot("tree_crash_loop")
        put_fault(port, "crash_loop", False)

        # -- tables
        driver.get(url + "#/tables")
        tables = "return [...document.querySelectorAll('#tables-table tbody tr')].map(r => r.dataset.table || '')"
        if not e2e.wait_for("session_cache in the tables", lambda: "session_cache" in driver.run(tables), 15):
            e2e.fail(f"tables view: session_cache is not listed: {driver.run(tables)}")
        # Rates need two answers: evictions/s of the full order_cache shows up.
        rate = "const r = document.querySelector(\"#tables-table tr[data-table='order_cache']\");" \
               "return r ? r.cells[7].textContent : ''"
        if not e2e.wait_for("order_cache's evictions per second", lambda: driver.run(rate) not in ("", "-"), 10):
            e2e.fail(f"tables view: order_cache's evictions / s reads {driver.run(rate)!r}")
        shot("tables")

        # -- no JavaScript errors. Two network answers are the page working:
        # the refused kill's 401, and the killed slow_ledger's detail (404,
        # shown as "no process") until the page moved on.
        def expected(e):
            m = e.get("message", "")
            return e.get("source") == "network" and (
                "status of 401" in m or ("/api/v1/processes/" + ledger.strip("<>") + " " in m and "status of 404" in m))
        entries = driver.browser_log()
        errors = [e for e in entries if e.get("level") == "SEVERE" and not expected(e)]
        if errors:
            e2e.fail(f"the console has errors: {errors}")
        else:
            e2e.log(f"browser console: {len(entries)} entries, no errors")

        # -- a stopped server: the banner
        # The page was never reloaded: the charts hold the whole run (the
        # flood, the crash loop) by now.
        driver.get(url + "#/system")
        time.sleep(1.5)
        points = driver.run("return document.getElementById('legend-msgs').textContent")
        if "sent / s" not in points:
            e2e.fail(f"system view: the messages chart has no series: {points!r}")
        shot("system_after_faults")
        canopy.send_signal(signal.SIGTERM)
        canopy.wait(timeout=30)
        banner = "const b = document.getElementById('banner'); return b.hidden ? '' : b.textContent"
        if not e2e.wait_for("the disconnected banner", lambda: "disconnected" in driver.run(banner), 10):
            e2e.fail("after canopy stopped the page shows no disconnected banner")
        if not driver.run("return document.body.classList.contains('stale')"):
            e2e.fail("after canopy stopped the numbers are not marked stale")
        shot("disconnected")
        if canopy.returncode != 0:
            e2e.fail(f"canopy exited with {canopy.returncode} on SIGTERM (want 0)")
    finally:
        if driver:
            driver.quit()
        started.stop_all()
        if e2e.failures:
            started.dump_logs()


def browser_args(ap):
    ap.add_argument("--out-dir", required=True, help="where the screenshots go")
    ap.add_argument("--chromedriver", default=shutil.which("chromedriver") or "/usr/bin/chromedriver")


def need_chromedriver(args):
    if not os.path.exists(args.chromedriver):
        raise SystemExit(f"observer_browser: no chromedriver at {args.chromedriver} (apt-get install chromium-driver)")


def main():
    e2e.main_in_workdir("observer_browser", __doc__, run, add_args=browser_args, check=need_chromedriver)


if __name__ == "__main__":
    main()
