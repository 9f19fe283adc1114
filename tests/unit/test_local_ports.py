"""The local stack's port check: a listening server is refused; a just-stopped one is not."""

from __future__ import annotations

import socket

import pytest

from infra.local.emulator import _ensure_free


def test_a_listening_port_is_refused() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with pytest.raises(RuntimeError, match="already in use"):
            _ensure_free("127.0.0.1", server.getsockname()[1])


def test_connections_left_in_time_wait_by_a_stopped_server_do_not_block_a_restart() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection waits in TIME_WAIT
    client.recv(1)
    client.close()
    server.close()
    _ensure_free("127.0.0.1", port)  # no "already in use"
