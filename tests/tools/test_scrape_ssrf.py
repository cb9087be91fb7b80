"""The page reader must not be a way into our own network.

Loopback targets are real servers (on 127.0.0.1 and ::1) so "blocked" means
the server saw no TCP connection at all; a control test proves each
spelling does reach the server without the guard.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
import requests

from tests.tools.loopback import Handler
from workflows.tools import PAGE_UNREADABLE, WebTools
from workflows.tools.scrape import PageReader

NOT_ALLOWED = f"{PAGE_UNREADABLE} that address is not allowed"
PAGE = ("<html><body><article><h1>Internal admin</h1><p>" + "Secret internal dashboard text. " * 10
        + "</p></article></body></html>")

# Each of these reaches a server listening on 127.0.0.1 / ::1.
LOOPBACK_SPELLINGS = ["localhost", "LocalHost", "127.0.0.1", "127.1", "127.000.000.001", "2130706433",
                      "0x7f000001", "017700000001", "[::1]", "[::ffff:127.0.0.1]", "[0:0:0:0:0:0:0:1]",
                      "0.0.0.0", "0"]


def scrape(url: str, env: dict[str, str] | None = None) -> str:
    return asyncio.run(WebTools(reader=PageReader.from_env(env or {})).scrape_website(url))


def page(h: Handler) -> None:
    h.reply(200, PAGE)


@pytest.fixture
def internal(loopback):
    """A server on 127.0.0.1 and ::1 (same port) standing in for an internal service."""
    return loopback(page, ipv6=True)


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_control_every_loopback_spelling_reaches_the_server_unguarded(internal, host: str) -> None:
    # Proves the blocked-spelling test below is meaningful: without the guard
    # each of these URLs does reach the internal server.
    assert requests.get(internal.url("/", host), timeout=2).status_code == 200
    assert internal.connections == 1


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_in_every_spelling_is_refused_before_connecting(internal, host: str) -> None:
    out = scrape(internal.url("/admin", host))
    assert out.startswith(NOT_ALLOWED), out
    assert internal.connections == 0 and internal.seen == []


@pytest.mark.parametrize("host", [
    "10.0.0.1", "10.255.255.254", "172.16.0.1", "172.31.255.1", "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CG-NAT
    "[fd00::1]", "[fe80::1]",  # IPv6 unique-local and link-local
    "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]",  # IPv4-mapped
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
    "224.0.0.1", "[ff02::1]",  # multicast
    "240.0.0.1", "255.255.255.255",  # reserved, broadcast
])
def test_internal_ranges_are_refused_without_a_connection_attempt(host: str) -> None:
    started = time.monotonic()
    out = scrape(f"http://{host}/latest/meta-data/")
    assert out.startswith(NOT_ALLOWED), out
    # A real connection attempt to these would hang until the connect timeout.
    assert time.monotonic() - started < 1.0


def test_allow_hosts_lets_a_named_host_through(internal) -> None:
    out = scrape(internal.url("/admin"), {"SCRAPE_ALLOW_HOSTS": "intranet.example, 127.0.0.1"})
    assert "Secret internal dashboard text." in out
    assert internal.connections == 1


@pytest.mark.parametrize("host", ["localhost", "[::1]", "127.1"])
def test_allow_hosts_exempts_only_the_names_listed(internal, host: str) -> None:
    out = scrape(internal.url("/admin", host), {"SCRAPE_ALLOW_HOSTS": "127.0.0.1"})
    assert out.startswith(NOT_ALLOWED)
    assert internal.connections == 0


def test_allow_hosts_accepts_ipv6_in_any_spelling(internal) -> None:
    out = scrape(internal.url("/admin", "[::1]"), {"SCRAPE_ALLOW_HOSTS": "[0:0::1]"})
    assert "Secret internal dashboard text." in out


# --- redirects: every hop is checked -------------------------------------------------


@pytest.mark.parametrize("target", [
    "http://localhost:{port}/admin",
    "http://[::1]:{port}/admin",
    "http://169.254.169.254/latest/meta-data/iam/",
    "http://10.0.0.1/",
])
def test_redirect_from_an_allowed_host_to_an_internal_one_is_refused(loopback, internal, target: str) -> None:
    front = loopback(lambda h: h.redirect(target.format(port=internal.port)))
    out = scrape(front.url("/go"), {"SCRAPE_ALLOW_HOSTS": "127.0.0.1"})
    assert out.startswith(NOT_ALLOWED), out
    assert len(front.seen) == 1
    assert internal.connections == 0


@pytest.mark.parametrize(("target", "reason"), [
    ("file:///etc/passwd", "only http and https pages can be read, not file:"),
    ("gopher://127.0.0.1:{port}/_GET", "only http and https pages can be read, not gopher:"),
    ("http://user:pw@127.0.0.1:{port}/", "URLs with a user name or password in them are not allowed."),
])
def test_redirect_to_a_forbidden_kind_of_url_is_refused(loopback, internal, target: str, reason: str) -> None:
    front = loopback(lambda h: h.redirect(target.format(port=internal.port)))
    out = scrape(front.url("/go"), {"SCRAPE_ALLOW_HOSTS": "127.0.0.1"})
    assert out == f"{PAGE_UNREADABLE} {reason}"
    assert internal.connections == 0


def test_relative_redirects_on_an_allowed_host_work(loopback) -> None:
    def route(h: Handler) -> None:
        if h.path == "/old":
            h.redirect("/new")
        else:
            page(h)

    server = loopback(route)
    out = scrape(server.url("/old"), {"SCRAPE_ALLOW_HOSTS": "127.0.0.1"})
    assert out.startswith(f"Page: {server.url('/old')}\n<<<UNTRUSTED_WEB_CONTENT id=")
    assert f"(Redirected to {server.url('/new')})" in out  # inside the fence: the server chose it
    assert "Secret internal dashboard text." in out


# --- URL shapes refused before any network traffic --------------------------------------


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "only http and https pages can be read, not file:"),
    ("gopher://127.0.0.1:70/_stats", "only http and https pages can be read, not gopher:"),
    ("ftp://example.com/file.txt", "only http and https pages can be read, not ftp:"),
    ("www.example.com/page", "only http and https pages can be read, not a URL without http:// or https://"),
    ("http:///no-host", "that URL has no host name."),
    ("http://example.com:99999/", "that is not a valid URL."),
])
def test_other_schemes_and_malformed_urls(url: str, reason: str) -> None:
    assert scrape(url) == f"{PAGE_UNREADABLE} {reason}"


@pytest.mark.parametrize("userinfo", ["user:pass@", "user@", "trusted.example@", ":@"])
def test_userinfo_is_refused_even_for_an_allowed_host(internal, userinfo: str) -> None:
    out = scrape(f"http://{userinfo}127.0.0.1:{internal.port}/", {"SCRAPE_ALLOW_HOSTS": "127.0.0.1"})
    assert out == f"{PAGE_UNREADABLE} URLs with a user name or password in them are not allowed."
    assert internal.connections == 0


def test_environment_proxies_are_not_used(loopback, internal, monkeypatch) -> None:
    # A proxy resolves the host name again on its own, so the address we
    # checked is not necessarily the one it connects to (DNS rebinding past
    # the guard). Page fetches therefore ignore HTTP_PROXY and friends.
    proxy = loopback(lambda h: h.reply(200, "<html><body><p>proxied</p></body></html>"))
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url(""))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    out = scrape(internal.url("/admin"), {"SCRAPE_ALLOW_HOSTS": "127.0.0.1"})
    assert "Secret internal dashboard text." in out
    assert proxy.connections == 0 and internal.connections == 1
    assert scrape("http://10.0.0.1/admin").startswith(NOT_ALLOWED)
    assert proxy.connections == 0


def test_dns_rebinding_cannot_swap_the_checked_address(internal, monkeypatch) -> None:
    # A name that resolves to a public address when checked and to loopback
    # when connecting. The reader must connect to the address it checked.
    # (The stdlib resolver is the only thing faked: there is no DNS server here.)
    real_getaddrinfo = socket.getaddrinfo
    # The first answer must pass the check, so it has to be a public address;
    # at worst the reader spends its 1 s deadline trying to reach it.
    answers = iter(["8.8.8.8"] + ["127.0.0.1"] * 10)

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    tools = WebTools(reader=PageReader.from_env({"SCRAPE_DEADLINE_SECONDS": "1"}))
    started = time.monotonic()
    out = asyncio.run(tools.scrape_website(f"http://rebind.example:{internal.port}/admin"))
    assert out.startswith(PAGE_UNREADABLE)
    assert internal.connections == 0
    assert time.monotonic() - started < 2.0
