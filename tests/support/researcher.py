"""A researcher's side, for the tests: an API client with a token, and the study page's settings table and figures."""

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


def page_cell(page: str, element_id: str) -> str:
    """The text of the study page's element with this id (a figure the live refresh keeps up to date), unescaped."""
    found = re.search(rf'id="{re.escape(element_id)}"[^>]*>([^<]*)<', page)
    assert found, f"no element {element_id} on the page"
    return html.unescape(found.group(1))


def page_cells(page: str, prefix: str) -> list[str]:
    """The texts of the page's elements whose id starts with `prefix`, in page order."""
    return [html.unescape(text) for text in re.findall(rf'id="{re.escape(prefix)}[^"]*">([^<]*)<', page)]
