"""Joining through a crowd link: which worker ids are accepted, and rate limits per client behind a proxy."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Rater
from tests.support.builders import build_open_study

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("worker", ["5f1a2b3c4d5e6f708192a3b4", "A1B2C3D4E5", "worker.name_1", "x@lab-7", "_x", "w" * 128])
def test_crowd_platform_ids_join(worker):
    study = build_open_study(n_prompts=1)
    assert Client().get(f"/s/{study.slug}/join", {"worker": worker}).status_code == 302
    assert Rater.objects.filter(study=study, worker_id=worker).exists()


@pytest.mark.parametrize(
    "worker",
    # What a spreadsheet would run as a formula when the votes CSV is opened, and what no platform sends.
    ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A9)", "a:b", "a b", "a/b", "w" * 129, "é"],
)
def test_other_worker_ids_are_refused_with_the_rule(worker):
    study = build_open_study(n_prompts=1)
    response = Client().get(f"/s/{study.slug}/join", {"worker": worker})
    assert response.status_code == 400
    assert b"1 to 128 letters, digits" in response.content
    assert not Rater.objects.exists()


def test_behind_a_trusted_proxy_each_client_has_its_own_join_limit(settings):
    settings.JUICE_RATE_JOIN_PER_MINUTE = 2
    settings.JUICE_TRUSTED_PROXIES = ()
    study = build_open_study(n_prompts=1)

    def join(worker: str, forwarded: str, proxy: str = "10.0.0.2") -> int:
        client = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded)
        return client.get(f"/s/{study.slug}/join", {"worker": worker}).status_code

    # Not trusted: every annotator behind the proxy shares the proxy's bucket, whatever they claim.
    assert [join(f"a{i}", f"198.51.100.{i}") for i in range(3)] == [302, 302, 429]
    from ipaddress import ip_network

    settings.JUICE_TRUSTED_PROXIES = (ip_network("10.0.0.0/8"),)
    # Trusted: each client counts for itself; a client's own X-Forwarded-For hops are not believed.
    assert [join(f"b{i}", "203.0.113.7") for i in range(3)] == [302, 302, 429]
    assert join("c1", "203.0.113.8") == 302
    assert join("c2", "1.2.3.4, 203.0.113.9") == 302 and join("c3", "5.6.7.8, 203.0.113.9") == 302
    assert join("c4", "9.9.9.9, 203.0.113.9") == 429  # the third from 203.0.113.9, whatever it forged before it
    # A request that does not come from a trusted proxy is its own client, forwarded header or not.
    assert join("d1", "203.0.113.10", proxy="192.0.2.1") == 302
