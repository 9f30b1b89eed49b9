"""A researcher's side, for the tests: an API client with a token, and the study page's settings table."""

from __future__ import annotations

import html
import re

from django.test import Client

from juice.auth import api_token_create


def api_client(user) -> Client:
    """A client of the JSON API that sends a new token of `user`."""
    return Client(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user)}")


def page_settings(page: str) -> dict[str, str]:
    """The study page's settings table: label -> value as shown."""
    table = page.split('id="settings"', 1)[1].split("</table>", 1)[0]
    return {html.unescape(k): html.unescape(v) for k, v in re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', table)}
