"""Every answer of the site carries a strict Content-Security-Policy, Referrer-Policy, X-Content-Type-Options
and Permissions-Policy: researcher pages, rating pages, API answers, videos and images, error pages. The
HTML report alone is allowed its inline style element, by its hash; Django's debug pages (JUICE_DEBUG=1)
theirs. In the browser: tests/annotation/rating/test_browser_csp.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from django.test import Client
from django.urls import get_resolver, reverse

from annotation.models import Item, Study
from juice import csp
from juice.auth import api_token_create
from tests.support import ROOT
from tests.support.builders import build_open_study
from tests.support.raters import answer
from tests.support.rating import join, next_item
from tests.support.reports import report_computed

pytestmark = pytest.mark.django_db

STRICT = {
    "default-src": ["'self'"], "script-src": ["'self'"], "style-src": ["'self'"], "img-src": ["'self'", "data:"],
    "media-src": ["'self'"], "object-src": ["'none'"], "base-uri": ["'none'"], "frame-ancestors": ["'none'"],
    "form-action": ["'self'", "https://*.mturk.com"],
}
OFF = ("camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()")


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";"))}


def assert_headers(response, what: str, policy: dict | None = None) -> None:
    assert directives(response) == (policy or STRICT), what
    assert response["Referrer-Policy"] == "same-origin", what
    assert response["X-Content-Type-Options"] == "nosniff", what
    assert all(feature in response["Permissions-Policy"].split(", ") for feature in OFF), what


def every_named_address(study: Study, token: str, videos: dict[str, str], image: str) -> dict[str, str]:
    """An address of each named URL of the site, with real objects in it (admin's apart)."""
    item = Item.objects.filter(study=study).first()
    video = item.video_a
    Path(video.file.path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(item.matched_a.file.path, video.file.path)  # the builder's source rows name no file
    slug = study.slug
    args = {
        "annotate-next": [slug], "annotate-consent": [slug], "annotate-qualification": [slug],
        "annotate-vote": [token], "annotate-report": [token],
        "rater-join": [slug], "rating-page": [slug], "study-detail": [slug], "study-live": [slug], "study-status": [slug],
        "study-attention": [slug], "study-invitations": [slug], "study-items": [slug], "study-matching": [slug],
        "study-matching-resend": [slug], "study-links": [slug], "study-votes": [slug], "study-raters": [slug],
        "study-design": [slug], "study-report-status": [slug], "study-report-refresh": [slug], "api-study": [slug],
        "api-study-invitations": [slug], "api-study-links": [slug],
        "api-study-report": [slug], "api-study-design": [slug],
        "study-item-drop": [slug, item.pk], "study-item-rematch": [slug, item.pk], "study-matching-retry": [slug, item.pk],
        "study-matching-drop": [slug, item.pk], "study-item-video": [slug, item.pk, "a"], "study-report": [slug, "html"],
        "prompt-set-detail": [study.prompt_set.pk], "prompt-set-media": [study.prompt_set.pk],
        "api-prompt-set": [study.prompt_set.name], "api-system-videos": [video.system.name],
        "system-videos-upload": [video.system.pk], "generation-retry": [video.system.pk], "generation-cancel": [video.system.pk],
        "video-file": [video.pk], "video-first-frame": [video.pk], "api-token-revoke": [1],
    }
    names = sorted(name for name in get_resolver().reverse_dict if isinstance(name, str))
    addresses = {name: reverse(name, args=args.get(name, [])) for name in names if name not in ("study-video", "rating-image")}
    return {**addresses, "study-video": videos["left"], "rating-image": image}


def test_every_address_of_the_site_answers_with_the_headers(client, researcher):
    study = build_open_study(n_prompts=1, image=True)
    client.force_login(researcher)
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {api_token_create(user=researcher)}"
    join(study, "W1", client=client)
    offer = next_item(client, study)
    report_computed(study)  # reports are computed in the background; here at once
    statuses = {}
    for name, url in every_named_address(study, offer["assignment"], offer["videos"], offer["image"]).items():
        response = client.get(url)
        statuses[name] = response.status_code
        policy = directives(response) if name == "study-report" else None  # the report: below
        assert_headers(response, f"{name} {url}", policy)
    # Real answers, not only refusals: pages, videos, images and API answers of each kind.
    for name in ("researcher-home", "rating-page", "study-detail", "study-items", "prompt-set-media", "generation-status",
                 "study-video", "study-item-video", "rating-image", "video-file", "annotate-next", "api-prompt-sets",
                 "api-study", "api-openapi", "api-study-report", "study-votes", "login"):
        assert statuses[name] in (200, 206), (name, statuses[name])
    assert statuses["annotate-vote"] == statuses["logout"] == 405  # a POST only
    assert len(statuses) > 50


def test_error_answers_carry_the_headers_too(client, researcher, monkeypatch, settings):
    study = build_open_study(n_prompts=1)
    assert_headers(client.get("/no-such-page"), "404 page")
    assert_headers(client.get("/api/no-such-thing"), "404 API")
    assert_headers(client.put("/api/studies", "{}", content_type="application/json"), "405 API")
    rater = join(study, "W1", client=Client(enforce_csrf_checks=True, raise_request_exception=False))
    token = next_item(rater, study)["assignment"]
    refused = rater.post(f"/api/annotate/assignments/{token}/vote", json.dumps(answer(study)), content_type="application/json")
    assert refused.status_code == 403
    assert_headers(refused, "403 CSRF API")
    page = Client(enforce_csrf_checks=True).post("/login/", {"username": "x", "password": "y"})
    assert page.status_code == 403 and "came without this site's security token" in page.content.decode()
    assert "<style" not in page.content.decode()  # our page, not Django's with its inline styles
    assert_headers(page, "403 CSRF page")

    def broken(*_, **__):
        raise RuntimeError("a bug")

    monkeypatch.setattr("annotation.rating.api.assignment_next", broken)
    assert_headers(rater.get(f"/api/annotate/{study.slug}/next"), "500 API")
    monkeypatch.setattr("annotation.rating.views.rater_from_cookie", broken)
    failed = rater.get(f"/s/{study.slug}/rate")
    assert failed.status_code == 500
    assert_headers(failed, "500 page")
    assert_headers(Client().post("/api/studies", b"x" * 10, content_type="application/json",
                                 CONTENT_LENGTH=str(settings.JUICE_MAX_UPLOAD_BYTES + 1)), "413")
    settings.SECURE_SSL_REDIRECT = True
    redirect = Client().get("/login/")
    assert redirect.status_code == 301
    assert_headers(redirect, "redirect to HTTPS")


def sha256(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


def test_the_html_report_alone_is_allowed_its_inline_style_by_hash(researcher_client):
    study = build_open_study(n_prompts=2)
    report_computed(study)
    response = researcher_client.get(reverse("study-report", args=[study.slug, "html"]))
    html = response.content.decode()
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(styles) == 1 and "style=" not in html
    assert_headers(response, "report", {**STRICT, "style-src": ["'self'", sha256(styles[0])]})
    download = researcher_client.get(reverse("study-report", args=[study.slug, "html"]), {"download": "1"})
    assert directives(download) == directives(response)
    assert_headers(researcher_client.get(reverse("study-detail", args=[study.slug])), "the study page next to it")


def test_djangos_debug_pages_are_allowed_their_inline_code_by_hash(client, settings):
    settings.DEBUG = True
    response = client.get("/no-such-page")
    html = response.content.decode()
    assert response.status_code == 404 and "Using the URLconf" in html  # Django's technical page
    policy = directives(response)
    styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)
    assert styles and all(sha256(style) in policy["style-src"] for style in styles)
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert_headers(client.get("/login/"), "a page that is not an error, in debug")


def test_the_readmes_nginx_lines_send_the_same_headers_as_the_site(settings):
    """The files nginx serves itself (README, "Deployment") get the policy the settings declare."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = dict(re.findall(r'^ +add_header ([\w-]+) "?(.*?)"? always;$', readme, re.M))
    assert lines == {
        "Content-Security-Policy": csp.policy(), "Referrer-Policy": settings.SECURE_REFERRER_POLICY,
        "X-Content-Type-Options": "nosniff", "Permissions-Policy": settings.JUICE_PERMISSIONS_POLICY,
    }
