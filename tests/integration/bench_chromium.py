"""Open an HTML file in headless Chromium and report what went wrong there.

Speaks the DevTools protocol over `--remote-debugging-pipe` (fds 3 and 4,
NUL-separated JSON), so it needs nothing beyond the standard library and
Debian's `chromium` package. Collects uncaught exceptions, console errors,
log entries of level error and every request that is not file: or data:
(a self-contained report makes none), then measures what rendered.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = "apt-get install -y --no-install-recommends chromium"

#: evaluated in the page once it has loaded.
PROBE = """(() => {
  const svgs = [...document.querySelectorAll('svg')];
  return {
    title: document.title,
    svg_count: svgs.length,
    svg_drawn: svgs.filter(s => { const b = s.getBBox(); return b.width > 0 && b.height > 0; }).length,
    marks: document.querySelectorAll('svg rect, svg circle, svg polyline').length,
    body_height: document.body.scrollHeight,
    text: document.body.innerText.slice(0, 20000),
  };
})()"""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int):
        self.w, self.r = write_fd, read_fd
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        return self.next_id

    def _read_one(self, deadline: float) -> dict:
        import select

        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 16)
                if not chunk:
                    raise EOFError("chromium closed the pipe")
                self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        mid = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_one(deadline)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events[i]
        while True:
            msg = self._read_one(deadline)
            self.events.append(msg)
            if msg.get("method") == method:
                return msg


def render(html_path: str, *, screenshot: str | None = None, timeout: float = 60) -> dict:
    """Load `html_path` and return {errors, requests, probe} (and write a PNG screenshot if asked)."""
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError(f"chromium is not installed ({INSTALL})")
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="kbackend-chromium-")

    def fds():
        # move the pipe ends to the fds the protocol expects (3: commands in, 4: answers out)
        a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
        os.dup2(a, 3)
        os.dup2(b, 4)
        os.set_inheritable(3, True)
        os.set_inheritable(4, True)

    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--remote-debugging-pipe", f"--user-data-dir={profile}",
         "--window-size=1200,900", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=fds,
        close_fds=False,
    )
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    pipe = _Pipe(to_chrome_w, from_chrome_r)
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            pipe.call(f"{domain}.enable", session=session)
        pipe.call("Page.navigate", {"url": "file://" + os.path.abspath(html_path)}, session=session)
        pipe.wait_event("Page.loadEventFired", timeout=timeout)
        probe = pipe.call("Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=session)
        if screenshot:
            shot = pipe.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                             session=session)
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        time.sleep(0.2)
        pipe.call("Runtime.evaluate", {"expression": "1"}, session=session)  # drain pending events
        errors, requests = [], []
        for ev in pipe.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                errors.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                           for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                errors.append("log: " + p["entry"].get("text", ""))
            elif m == "Network.requestWillBeSent":
                url = p["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    requests.append(url)
        if "exceptionDetails" in probe:
            errors.append("probe failed: " + json.dumps(probe["exceptionDetails"])[:300])
        return {"errors": errors, "requests": requests, "probe": probe.get("result", {}).get("value") or {}}
    finally:
        try:
            pipe.send("Browser.close")
        except OSError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_chrome_w)
        os.close(from_chrome_r)
        shutil.rmtree(profile, ignore_errors=True)
