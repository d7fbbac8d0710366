"""Signed requests, at the exact edges: the clock tolerance both ways, and what a v1 and a v2
signature cover. The clock is given, so nothing here depends on how fast the machine is."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from worker.api.signature import (
    TOLERANCE_SECONDS,
    Request,
    SignatureError,
    compute,
    parse,
    sign,
    verify,
)
from worker.cli import app

SECRET = "unit-secret"
BODY = b'{"account_id":"bluepeak","kind":"low_usage"}'
T = 1_800_000_000
TRIGGERS = Request("POST", "/triggers", "k-1")


@pytest.mark.parametrize("offset", [-TOLERANCE_SECONDS, 0, TOLERANCE_SECONDS])
def test_a_signature_within_the_tolerance_either_way_passes(offset: int) -> None:
    assert verify([SECRET], sign([SECRET], BODY, T), BODY, now=T + offset).timestamp == T


@pytest.mark.parametrize("offset", [-TOLERANCE_SECONDS - 1, TOLERANCE_SECONDS + 1])
def test_a_signature_one_second_outside_the_tolerance_is_stale(offset: int) -> None:
    with pytest.raises(SignatureError, match="300 s from now"):
        verify([SECRET], sign([SECRET], BODY, T), BODY, now=T + offset)


def test_v1_covers_the_body_only() -> None:
    header = sign([SECRET], BODY, T)
    signed = verify([SECRET], header, BODY, now=T, request=Request("POST", "/saves/northwind/help", "other"))
    assert not signed.bound  # the same v1 passes on any path: the API's replay memory is its guard
    with pytest.raises(SignatureError, match="does not match"):
        verify([SECRET], header, BODY + b" ", now=T, request=TRIGGERS)


def test_v2_covers_the_method_the_path_with_its_query_the_key_and_the_body() -> None:
    header = sign([SECRET], BODY, T, TRIGGERS)
    assert verify([SECRET], header, BODY, now=T, request=TRIGGERS).bound
    for other in (
        Request("POST", "/saves/northwind/help", "k-1"),
        Request("PUT", "/triggers", "k-1"),
        Request("POST", "/triggers?x=1", "k-1"),
        Request("POST", "/triggers", "k-2"),
        Request("POST", "/triggers", ""),
    ):
        with pytest.raises(SignatureError, match="v2 signature does not match"):
            verify([SECRET], header, BODY, now=T, request=other)
    with pytest.raises(SignatureError, match="v2 signature does not match"):
        verify([SECRET], header, BODY + b" ", now=T, request=TRIGGERS)


def test_a_header_with_a_v2_is_judged_by_it_even_when_its_v1_matches() -> None:
    header = sign([SECRET], BODY, T, TRIGGERS)
    assert {"v1", "v2"} <= {part.split("=")[0] for part in header.split(",")}
    with pytest.raises(SignatureError, match="v2"):
        verify([SECRET], header, BODY, now=T, request=Request("POST", "/saves/northwind/help", "k-1"))


def test_v2_alone_and_v2_under_a_rotated_secret_pass() -> None:
    v2_only = ",".join(p for p in sign([SECRET], BODY, T, TRIGGERS).split(",") if not p.startswith("v1="))
    assert verify([SECRET], v2_only, BODY, now=T, request=TRIGGERS).bound
    old = sign(["old-secret"], BODY, T, TRIGGERS)
    assert verify(["new-secret", "old-secret"], old, BODY, now=T, request=TRIGGERS).bound


def test_an_api_that_requires_v2_refuses_v1_alone() -> None:
    with pytest.raises(SignatureError, match="requires a v2"):
        verify([SECRET], sign([SECRET], BODY, T), BODY, now=T, request=TRIGGERS, require_bound=True)
    assert verify([SECRET], sign([SECRET], BODY, T, TRIGGERS), BODY, now=T, request=TRIGGERS, require_bound=True)


def test_the_v1_format_is_unchanged() -> None:
    # what the README's openssl recipe and every existing sender compute
    timestamp, signatures = parse(f"t={T},v1={compute(SECRET, T, BODY)}")
    assert timestamp == T and signatures["v1"] == [compute(SECRET, T, BODY)] and signatures["v2"] == []
    assert sign([SECRET], BODY, T) == f"t={T},v1={compute(SECRET, T, BODY)}"


def test_saves_sign_adds_a_v2_bound_to_the_path_and_key_it_is_given() -> None:
    env = {"SAVES_WEBHOOK_SECRET": SECRET}
    plain = CliRunner().invoke(app, ["sign"], input=BODY, env=env)
    bound = CliRunner().invoke(app, ["sign", "--path", "/triggers", "--key", "k-1"], input=BODY, env=env)
    assert plain.exit_code == 0 and bound.exit_code == 0, (plain.output, bound.output)
    assert "v2=" not in plain.output and "v2=" in bound.output
    header = bound.output.strip()
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert verify([SECRET], header, BODY, now=timestamp, request=TRIGGERS).bound
