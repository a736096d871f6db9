import socket
import urllib.request

import pytest


def test_the_network_is_refused_in_tests() -> None:
    with pytest.raises(OSError, match='must not reach the network'):
        socket.create_connection(('example.com', 80), timeout=1)
    with pytest.raises(OSError, match='must not reach the network'):
        urllib.request.urlopen('http://192.0.2.1/', timeout=1)


def test_loopback_stays_open() -> None:
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    with server, socket.create_connection(server.getsockname(), timeout=1):
        pass
