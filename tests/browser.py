#!/usr/bin/python3
"""A real browser for the tests: Debian's Chromium, headless, driven over
the Chrome DevTools Protocol on a pipe (`--remote-debugging-pipe`: fds 3
and 4, each message JSON ended by a NUL byte; no port, no WebDriver, no
package beyond Python's own library), line by line on stdin:

  open URL               load URL in the tab; print {"url": ...} once loaded
  eval EXPR              print the value of JavaScript EXPR (promises awaited)
  wait SECONDS EXPR      evaluate EXPR every 10 ms until it is truthy (a
                         value JSON carries: end EXPR with one): print
                         {"ok": true, "ms": ..., "value": ...}, or
                         {"ok": false, "value": LAST} after SECONDS
  shot FILE              a PNG of the page
  quit                   close the browser

Every answer is one JSON line on stdout. The page's console messages and
uncaught errors are kept and printed by `eval __console__`."""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="swctl-chromium-")
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        # the child's ends above 4, so that putting one on 3 never closes the other
        for name in ("to_child_r", "from_child_w"):
            fd = locals()[name]
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if name == "to_child_r":
                to_child_r = high
            else:
                from_child_w = high
        # Chromium reads commands on fd 3 and writes answers on fd 4
        def fds():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [
                shutil.which("chromium") or "/usr/bin/chromium",
                "--headless=new",
                "--no-sandbox",  # root, as the tests are
                "--disable-gpu",
                "--disable-dev-shm-usage",  # a container's /dev/shm is small
                "--no-first-run",
                "--remote-debugging-pipe",
                "--window-size=1400,800",
                "--user-data-dir=" + self.profile,
                "about:blank",
            ],
            preexec_fn=fds,
            # kept open in the child: the close of the others comes after preexec_fn
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.console = []
        targets = self.cmd("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.cmd("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        self.cmd("Page.enable", session=True)
        self.cmd("Runtime.enable", session=True)

    def send(self, msg):
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")

    def read(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self.from_child, 1 << 16)
            if not chunk:
                raise EOFError("Chromium is gone")
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\0")
        return json.loads(raw)

    def note(self, m):
        method = m.get("method", "")
        if method == "Runtime.consoleAPICalled":
            args = m["params"]["args"]
            self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
        elif method == "Runtime.exceptionThrown":
            d = m["params"]["exceptionDetails"]
            self.console.append("uncaught: " + d.get("exception", {}).get("description", d.get("text", "")))
        else:
            self.events.append(m)

    def cmd(self, method, params=None, session=False, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.send(msg)
        deadline = time.time() + timeout
        while True:
            m = self.read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m["result"]
            self.note(m)

    def eval(self, expr):
        if expr == "__console__":
            return self.console
        r = self.cmd(
            "Runtime.evaluate",
            {"expression": expr, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"].get("exception", {}).get("description", "error"))
        return r["result"].get("value")

    def open(self, url):
        self.events.clear()
        self.cmd("Page.navigate", {"url": url}, session=True)
        deadline = time.time() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.note(self.read(deadline))
        return self.eval("location.href")

    def close(self):
        try:
            self.cmd("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    b = Browser()
    try:
        for line in sys.stdin:
            cmd, _, rest = line.strip().partition(" ")
            try:
                if cmd == "quit" or not cmd:
                    break
                if cmd == "open":
                    out = {"url": b.open(rest)}
                elif cmd == "eval":
                    out = {"value": b.eval(rest)}
                elif cmd == "wait":
                    secs, _, expr = rest.partition(" ")
                    t0 = time.time()
                    value = None
                    out = None
                    while time.time() - t0 < float(secs):
                        value = b.eval(expr)
                        if value:
                            out = {"ok": True, "ms": round((time.time() - t0) * 1000, 1), "value": value}
                            break
                        time.sleep(0.01)
                    if out is None:
                        out = {"ok": False, "value": value}
                elif cmd == "shot":
                    png = b.cmd("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
                    with open(rest, "wb") as f:
                        f.write(base64.b64decode(png))
                    out = {"file": rest}
                else:
                    out = {"error": f"unknown command {cmd}"}
            except Exception as e:  # said to the test, which fails with it
                out = {"error": str(e)}
            print(json.dumps(out), flush=True)
    finally:
        b.close()


if __name__ == "__main__":
    main()
