"""``saves up`` serves Temporal where the commands of the same shell will look for it."""

from __future__ import annotations

import pytest

from worker.cli.running import embedded_port


@pytest.mark.parametrize(
    ("address", "given", "port"),
    [
        ("localhost:7233", None, 7233),
        ("localhost:7299", None, 7299),  # exported in this shell: `saves show` will look there
        ("127.0.0.1:7300", None, 7300),
        ("localhost:7299", 7400, 7400),  # --port wins
        ("temporal.example.com:7233", None, 7233),  # a remote cluster: up still runs its own, on the default
        ("10.0.0.5:7299", None, 7233),
        ("localhost:not-a-port", None, 7233),
        ("localhost:99999", None, 7233),
        ("localhost:0", None, 7233),
        ("localhost", None, 7233),
    ],
)
def test_up_takes_its_port_from_a_local_address_unless_told(address: str, given: int | None, port: int) -> None:
    assert embedded_port(address, given) == port
