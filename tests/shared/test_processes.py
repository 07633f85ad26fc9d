"""Ports for the servers and services the tests and the benchmark start."""

from __future__ import annotations

import socket

from attune_shared.processes import LOCALHOST, free_port


def test_free_port_never_hands_out_a_port_twice() -> None:
    # without the memory of handed-out ports the kernel repeats about one in twenty
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)


def test_a_free_port_can_be_listened_on() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, port))
        s.listen()
