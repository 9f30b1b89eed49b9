"""The Content-Security-Policy of every answer (settings.JUICE_CSP; SecurityHeadersMiddleware sends it).

Pages run only the scripts and styles of our static files: no inline script, style element or style
attribute, so markup that slips into a page (a prompt, a system name) cannot run or restyle anything.
A page that must inline, such as the HTML report whose styles and charts travel inside it, is allowed
exactly what it holds, by hash (`inline_allow`), and no other page is.
"""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

from django.conf import settings
from django.http import HttpResponse

HEADER = "Content-Security-Policy"


def policy(extra: dict[str, list[str]] | None = None) -> str:
    """The header's value: settings.JUICE_CSP, with `extra` sources added to their directives."""
    directives = {name: [*sources] for name, sources in settings.JUICE_CSP.items()}
    for name, sources in (extra or {}).items():
        directives.setdefault(name, []).extend(sources)
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def inline_allow(response: HttpResponse) -> HttpResponse:
    """Serve this HTML answer with a policy that allows the inline scripts and styles it holds (their
    sha256 hashes; for inline attributes, `'unsafe-hashes'` too), and nothing else inline."""
    response[HEADER] = policy(inline_sources(response.content.decode(response.charset)))
    return response


def inline_sources(html: str) -> dict[str, list[str]]:
    """The hash sources of the inline code in `html`, by directive: style elements and style attributes
    (style-src), script elements without `src` and `on...` attributes (script-src)."""
    found = _InlineCode()
    found.feed(html)
    found.close()
    sources = {}
    for directive, elements, attributes in (("style-src", found.styles, found.style_attributes),
                                            ("script-src", found.scripts, found.script_attributes)):
        hashes = sorted({_sha256(code) for code in elements | attributes})
        if hashes:
            sources[directive] = (["'unsafe-hashes'"] if attributes else []) + hashes
    return sources


def _sha256(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


class _InlineCode(HTMLParser):
    """Collects inline code as a browser reads it: element text raw, attribute values unescaped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.styles: set[str] = set()
        self.scripts: set[str] = set()
        self.style_attributes: set[str] = set()
        self.script_attributes: set[str] = set()
        self._inside: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "style":
                self.style_attributes.add(value or "")
            elif name.startswith("on"):
                self.script_attributes.add(value or "")
        executable = tag == "script" and not dict(attrs).get("src") and _is_javascript(dict(attrs).get("type"))
        if tag == "style" or executable:
            self._inside, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._inside:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._inside:
            (self.styles if tag == "style" else self.scripts).add("".join(self._text))
            self._inside = None


def _is_javascript(script_type: str | None) -> bool:
    """A data block (`application/json`, as json_script writes) is never run, so the policy need not allow it."""
    return not script_type or script_type.strip().lower() in ("module", "text/javascript", "application/javascript")
