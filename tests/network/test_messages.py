"""Connection messages say what happened: IPv6 hosts in brackets, a body that stopped
arriving is not "no answer", and ``read_timeout`` ends a silent exchange early."""

from __future__ import annotations

import socket

import anyio
import pytest
from reliability.conftest import FAKE_SECRET, hostile_client
from reliability.hostile import HostileServer, stall_body, stall_headers

from vi_async import Client, ViConnectionError, ViTimeoutError

pytestmark = pytest.mark.anyio


def _closed_ipv6_port() -> int:
    """A loopback IPv6 port nobody listens on."""
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        return int(sock.getsockname()[1])


async def test_an_ipv6_host_is_written_in_brackets() -> None:
    port = _closed_ipv6_port()
    endpoint = f"http://[::1]:{port}/"
    async with Client(
        secret_key=FAKE_SECRET, organization_id="org", endpoint=endpoint, max_retries=0
    ) as client:
        with pytest.raises(ViConnectionError, match=rf"Cannot connect to \[::1\]:{port}\b"):
            await client.flows.list()


async def test_a_body_that_stalls_after_the_headers_says_so(hostile: HostileServer) -> None:
    hostile.handler = stall_body
    async with hostile_client(hostile, max_retries=0, timeout=0.3) as client:
        with pytest.raises(ViTimeoutError) as caught:
            await client.flows.list()
    message = str(caught.value)
    assert "body stopped arriving after its headers (status 200)" in message
    assert "No answer" not in message


async def test_no_answer_at_all_is_no_answer(hostile: HostileServer) -> None:
    hostile.handler = stall_headers
    async with hostile_client(hostile, max_retries=0, timeout=0.3) as client:
        with pytest.raises(ViTimeoutError, match=r"No answer within 0\.3s"):
            await client.flows.list()


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (stall_headers, r"No answer: nothing arrived for 0\.2s \(read_timeout\)"),
        (stall_body, r"body stopped arriving .*: nothing arrived for 0\.2s \(read_timeout\)"),
    ],
    ids=["before-headers", "in-body"],
)
async def test_read_timeout_ends_a_silent_exchange_before_the_attempts_timeout(
    hostile: HostileServer, handler: object, message: str
) -> None:
    hostile.handler = handler  # type: ignore[assignment]
    async with hostile_client(hostile, max_retries=0, timeout=20, read_timeout=0.2) as client:
        with anyio.fail_after(5), pytest.raises(ViTimeoutError, match=message):
            await client.flows.list()
