"""A person installing the app in a workspace through Slack's OAuth flow, as
a browser does it, against a running bot and the fake Slack."""

from __future__ import annotations

import re
import urllib.parse

import requests

from bot.installations import INSTALL_PATH, REDIRECT_PATH
from testing.fakes.slack_api import FakeSlackWebAPI


def install_app(base_url: str, api: FakeSlackWebAPI, team: str) -> None:
    """/slack/install -> Slack's approval page -> /slack/oauth_redirect."""
    api.installing_team = team
    api.oauth_redirect_url = base_url + REDIRECT_PATH
    page = requests.get(base_url + INSTALL_PATH, timeout=10)
    assert page.status_code == 200, page.text[:300]
    authorize = re.search(r'href="([^"]+/oauth/v2/authorize\?[^"]+)"', page.text)
    assert authorize, page.text[:500]
    url = authorize.group(1).replace("&amp;", "&")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["client_id"] == [api.client_id] and "chat:write" in query["scope"][0]
    cookie = page.headers["Set-Cookie"].split(";")[0]  # Bolt's state cookie is Secure: sent by hand over http
    approved = requests.get(url, allow_redirects=False, timeout=10)  # the person presses "Allow" at Slack
    assert approved.status_code == 302, approved.text[:300]
    done = requests.get(approved.headers["Location"], headers={"Cookie": cookie}, timeout=10)
    assert done.status_code == 200, done.text[:300]


__all__ = ["install_app"]
