"""The design file beside the votes CSV, and the report of a dynamic study: the web report equals
`python -m analysis report votes.csv --design design.json` on the two downloaded files."""

import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from analysis import sequential
from annotation.models import Item
from tests.support import ROOT
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater
from tests.support.reports import report_computed

X, Y, Z = "SecretModelX", "SecretModelY", "SecretModelZ"


def preferred(item: Item, question: str) -> str:
    """X wins every item it is on; Y and Z share theirs, Y on the even prompts (on every question)."""
    names = (item.pair.system_a.name, item.pair.system_b.name)
    winner = X if X in names else Y if item.prompt.position % 2 == 0 else Z
    return "a" if winner == names[0] else "b"


def rate_by_preference(study, raters: int) -> None:
    """Every rater answers every item through the rating service, clicking the side that shows the preferred system."""
    for i in range(raters):
        SimulatedRater(f"w{i}", truth=preferred).join(study).rate_all()


@pytest.fixture
def dynamic_study(db):
    study = build_open_study(n_prompts=10, raters=3, n_systems=3, name="Dynamic study", dynamic=True, dynamic_alpha=0.05)
    rate_by_preference(study, raters=3)
    return study


def test_the_web_report_of_a_dynamic_study_equals_the_command_on_the_downloaded_files(dynamic_study, researcher_client, tmp_path):
    slug = dynamic_study.slug
    page = researcher_client.get(f"/studies/{slug}").content.decode()
    assert f"/studies/{slug}/design.json?download=1" in page
    design = researcher_client.get(f"/studies/{slug}/design.json?download=1")
    assert design["Content-Disposition"] == f'attachment; filename="design-{slug}.json"'
    votes = researcher_client.get(f"/studies/{slug}/votes.csv?download=1")
    (tmp_path / "design.json").write_bytes(design.content)
    (tmp_path / "votes.csv").write_bytes(votes.content)
    cli = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(tmp_path / "votes.csv"), "--design", str(tmp_path / "design.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    report_computed(dynamic_study)
    web, theirs = researcher_client.get(f"/studies/{slug}/report.json").json(), json.loads(cli.stdout)
    assert web["pairs"] == theirs["pairs"] and web["design"] == theirs["design"]

    # Three pairs of 10 items at family-wise alpha 0.05: X's pairs, won item after item, are settled. By hand:
    # sequential Holm tests them at 0.05 / 3, then 0.05 / 2; n straight wins first cross under the null with chance
    # 2 * 0.5^n; the looks before a pair's last item spend 0.1 * level * (n / 10)^2, which no n < 10 reaches (n = 9:
    # 0.0039 > 0.025 * 0.1 * 0.81 = 0.0020), and the last look spends the whole level (n = 10: 0.0020 < 0.05 / 3). So
    # both settle at their 10th and last item.
    # Y vs Z, 5 items each way, is not settled.
    by_pair = {(p["system_a"], p["system_b"], p["question"]): p for p in web["pairs"]}
    for question in dynamic_study.questions:
        figures = [by_pair[X, other, question]["sequential"] for other in (Y, Z)]
        assert [(f["status"], f["direction"], f["cap"]) for f in figures] == [("settled", X, 10)] * 2
        assert [f["at_item"] for f in figures] == [10, 10]
        assert all(f["repeated_p_holm"] <= 0.05 and f["drift_flagged"] is False for f in figures)
        assert by_pair[Y, Z, question]["sequential"]["status"] == "open"
        assert by_pair[Y, Z, question]["fixed_sample_valid"] is False
    assert web["design"]["dynamic"] is True and "not valid" in web["design"]["notes"]
    html = researcher_client.get(f"/studies/{slug}/report.html").content.decode()
    assert "Dynamic evaluation" in html and f"{X} better: settled at item 10 of 10" in html and "early and late items agree" in html
    assert (web["study"]["dynamic"], web["study"]["dynamic_alpha"]) == (True, 0.05)


def test_export_votes_writes_the_design_file(db, tmp_path):
    study = build_open_study(n_prompts=3, raters=3, n_systems=3, name="Design study", allow_tie=True)
    # The export leaves out dropped and attention items, and so does each pair's count.
    dropped = Item.objects.filter(study=study, pair__system_a__name=X, pair__system_b__name=Z).order_by("pk").first()
    Item.objects.filter(pk=dropped.pk).update(status=Item.Status.DROPPED)
    attention = Item.objects.filter(study=study, pair__system_a__name=Y, pair__system_b__name=Z).order_by("pk").first()
    Item.objects.filter(pk=attention.pk).update(is_attention=True, expected="a")
    votes, design = tmp_path / "votes.csv", tmp_path / "design.json"
    call_command("export_votes", study.name, "-o", str(votes), "--design", str(design))
    document = json.loads(design.read_text(encoding="utf-8"))
    assert document == {
        "format": "juice-design/1", "study": "Design study", "dynamic": False, "alpha": 0.05, "ranking": False,
        "rule": document["rule"], "rho": sequential.RHO, "share": sequential.SHARE, "raters_per_item": 3, "allow_tie": True,
        "early_stop": False,
        "questions": ["quality", "faithfulness"],
        "pairs": [{"system_a": X, "system_b": Y, "items": 3}, {"system_a": X, "system_b": Z, "items": 2},
                  {"system_a": Y, "system_b": Z, "items": 2}],
        "order": [], "burn_in": 0.0,
    }  # fmt: skip
    assert "sequential" in document["rule"]
    with pytest.raises(CommandError, match="no such folder"):
        call_command("export_votes", study.name, "-o", str(votes), "--design", str(tmp_path / "missing" / "design.json"))


def test_the_design_file_is_for_researchers_and_in_the_api(db, client, researcher):
    from juice.auth import api_token_create

    study = build_open_study(n_prompts=2, raters=3, name="API design study", dynamic=True, dynamic_alpha=0.1, dynamic_ranking=True)
    assert client.get(f"/studies/{study.slug}/design.json").status_code == 302  # to the login page
    url = f"/api/studies/{study.slug}/design"
    assert client.get(url).status_code == 401
    body = client.get(url, HTTP_AUTHORIZATION=f"Token {api_token_create(user=researcher)}").json()
    assert (body["dynamic"], body["alpha"], body["ranking"]) == (True, 0.1, True)
    assert body["pairs"] == [{"system_a": X, "system_b": Y, "items": 2}]
    # No votes yet: the report still comes, with every pair open.
    client.force_login(researcher)
    report_computed(study)
    report = client.get(f"/studies/{study.slug}/report.json").json()
    assert report["pairs"] == [] and report["design"]["pairs"][0]["status"] == "open"
