"""Helpers shared by the HAProxy real-server tests (test_model_haproxy.py, test_rules_haproxy.py)."""
from __future__ import annotations

import socket
import threading
import time



class SlowUpstream:
    """An upstream that waits `delay` seconds before answering 200 (a /sync long-poll)."""

    def __init__(self, delay: float):
        self.delay = delay
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.authority = f"127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            try:
                conn.recv(65536)
                time.sleep(self.delay)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                             b"Connection: close\r\n\r\n{}")
            except OSError:
                pass

    def close(self):
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_config(text: str, workdir) -> tuple:
    """(accepted, output) of the installed `haproxy -c` on `text`, written to `workdir` as is
    (no rendering: the check never binds a port). Skips, or fails under MPL_REQUIRE_SERVERS=1,
    when HAProxy is not installed."""
    import subprocess
    from pathlib import Path

    from real import driver_haproxy
    from real.harness import require_binary

    binary = require_binary(driver_haproxy)
    path = Path(workdir) / "check.cfg"
    path.write_text(text)
    done = subprocess.run([binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60)
    return done.returncode == 0, done.stdout + done.stderr


def installed_version() -> tuple:
    """(major, minor) of the installed HAProxy."""
    import re
    import subprocess

    from real import driver_haproxy
    from real.harness import require_binary

    out = subprocess.run([require_binary(driver_haproxy), "-v"], capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"version (\d+)\.(\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))
