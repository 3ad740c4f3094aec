"""Start `python app.py` as a user would, on a free 127.0.0.1 port, and wait until it answers.
Shared by the tests, the robustness benchmark and the start-up timing."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

from paths import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str] | None = None, log=None, timeout: float = 120,
           poll: float = 0.3) -> tuple[subprocess.Popen, str]:
    """-> (the server process, its URL) once the page answers HTTP 200; the caller stops it.
    log: an open file for the server's output (None: discarded)."""
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "MOE_APP_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "app.py", *(args or [])], cwd=ROOT, env=env, stdout=log or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with code {proc.returncode} during start-up")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"app.py did not answer within {timeout:.0f} s")
        time.sleep(poll)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)
