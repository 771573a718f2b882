"""A small headless-Chromium driver over the DevTools protocol, for the interactive data-map tests and benchmark.

No extra dependency: Chromium is started with `--remote-debugging-pipe`, which speaks the DevTools protocol as
NUL-terminated JSON messages on file descriptors 3 (commands in) and 4 (replies and events out), so neither a
websocket client nor a driver binary (chromedriver, playwright) is needed. Only the few commands the tests use are
wrapped (`navigate`, `evaluate`, `mouse`, `screenshot`); console errors and uncaught exceptions are collected.

Chromium itself comes from the system (Debian: `apt-get install -y chromium`); [`find_chromium`] returns `None`
when there is none, so tests can skip with a clear reason.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["Chromium", "find_chromium"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable (`$CHROMIUM` first), or `None`."""
    explicit = os.environ.get("CHROMIUM")
    if explicit and shutil.which(explicit):
        return shutil.which(explicit)
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One headless Chromium with one page, driven over `--remote-debugging-pipe`.

    >>> with Chromium() as browser:  # doctest: +SKIP
    ...     browser.navigate(Path("map.html").resolve().as_uri())
    ...     browser.evaluate("document.title")
    """

    def __init__(self, executable: str | None = None, width: int = 1200, height: int = 900, timeout: float = 60.0):
        executable = executable or find_chromium()
        if executable is None:
            raise FileNotFoundError("No Chromium found: install it (Debian: `apt-get install -y chromium`).")
        self.timeout = timeout
        self.console_errors: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._profile = tempfile.TemporaryDirectory(prefix="hf-notlike-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def child_fds():  # runs in the child before exec: put the pipe ends on fds 3 and 4, inheritable
            fds = []
            for fd in (to_chrome_r, from_chrome_w):  # first move both above 4, so dup2 cannot clobber either
                while fd <= 4:
                    fd = os.dup(fd)
                fds.append(fd)
            os.dup2(fds[0], 3, inheritable=True)
            os.dup2(fds[1], 4, inheritable=True)

        args = [
            executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--no-first-run",
            "--no-default-browser-check", "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
            # WebGL (Plotly's scattergl) on a machine without a GPU: ANGLE over SwiftShader
            "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
            f"--window-size={width},{height}", f"--user-data-dir={self._profile.name}", "about:blank",
        ]
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=child_fds,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    # ------------------------------------------------------------------ protocol
    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time.")
            ready, _, _ = select.select([self._from_chrome], [], [], remaining)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe (did it crash?).")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _handle_event(self, message: dict[str, Any]) -> None:
        self.events.append(message)
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.console_errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.console_errors.append(params["entry"].get("text", ""))

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Send one command (to the page once attached) and return its result; events are recorded meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if getattr(self, "_session", None) and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._handle_event(reply)

    def wait_for_event(self, method: str, timeout: float | None = None) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._read_message(deadline)
            if "method" in message:
                self._handle_event(message)
                if message["method"] == method:
                    self.events.remove(message)
                    return message

    # ------------------------------------------------------------------ page helpers
    def navigate(self, url: str, timeout: float | None = None) -> None:
        """Open `url` and wait for its load event."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        self.send("Page.navigate", {"url": url})
        self.wait_for_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, timeout: float | None = None) -> Any:
        """Evaluate a JavaScript expression in the page (promises awaited) and return its JSON value."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, timeout
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(f"JavaScript error: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float | None = None, poll: float = 0.05) -> Any:
        """Poll a JavaScript expression until it is truthy; return its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(poll)
        raise TimeoutError(f"Timed out waiting for `{expression}`.")

    def mouse(self, kind: str, x: float, y: float, button: str = "none") -> None:
        """One real mouse event (`mouseMoved`, `mousePressed`, `mouseReleased`) at CSS pixel `(x, y)`."""
        params = {"type": kind, "x": x, "y": y, "button": button, "buttons": 1 if button == "left" else 0}
        if kind in ("mousePressed", "mouseReleased"):
            params["clickCount"] = 1
        self.send("Input.dispatchMouseEvent", params)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 10) -> None:
        """Press the left button at `start`, move to `end` in `steps` steps, release."""
        self.mouse("mouseMoved", *start)
        self.mouse("mousePressed", *start, button="left")
        for i in range(1, steps + 1):
            t = i / steps
            point = (start[0] + t * (end[0] - start[0]), start[1] + t * (end[1] - start[1]))
            self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": point[0], "y": point[1],
                                                   "button": "left", "buttons": 1})
        self.mouse("mouseReleased", *end, button="left")

    def screenshot(self, path: str | os.PathLike) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self.send("Browser.close", timeout=10)
            except (RuntimeError, TimeoutError, OSError):
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
