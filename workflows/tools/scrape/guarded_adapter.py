"""The requests adapter every page fetch goes through.

It is requests-hardened's `IPFilterAdapter`, which resolves the host, refuses
loopback, private, link-local (cloud metadata), CG-NAT, NAT64, 6to4,
multicast and reserved addresses, and then connects to the very address it
checked (so a second, different DNS answer cannot sneak in). We add:

- an allowlist (SCRAPE_ALLOW_HOSTS) of host names that skip the address check,
  for intranets and tests;
- registration of every socket it opens with the fetch's `Deadline`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from requests_hardened.ip_filter_adapter import IPFilterAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from workflows.tools.scrape.deadline import Deadline
from workflows.tools.scrape.url_policy import normalise_host


class GuardedAdapter(IPFilterAdapter):
    def __init__(self, *, https: bool, allow_hosts: frozenset[str], deadline: Deadline) -> None:
        # Set before super().__init__, which calls init_poolmanager.
        self._allow_hosts = allow_hosts
        self._deadline = deadline
        super().__init__(is_https_proto=https, allow_loopback=False)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _watched_pool_classes(self._deadline.watch)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # Same parse as HTTPAdapter's, so we judge the host it will connect to.
        if normalise_host(urlparse(str(request.url)).hostname) in self._allow_hosts:
            return HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
        return super().build_connection_pool_key_attributes(request, verify, cert)


def _watched_pool_classes(watch: Callable[[socket.socket], None]) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose sockets are handed to `watch` as soon as they exist.

    `_new_conn` is where urllib3 creates the TCP socket, before any TLS
    handshake, so a server cannot stall us there either. Wrapping it in TLS
    detaches that socket object, so the TLS socket is handed over as well.
    """

    class WatchedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            watch(sock)
            return sock

    class WatchedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            watch(sock)
            return sock

        def connect(self) -> None:
            super().connect()
            watch(self.sock)

    class WatchedHTTPPool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTPConnection

    class WatchedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPSConnection

    return {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}
