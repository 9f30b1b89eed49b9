"""export_votes and report: the votes CSV of a study, and a report equal to the analysis CLI's on that CSV."""

import csv
import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from analysis import COLUMNS
from annotation.models import Item
from tests.support import ROOT
from tests.support.builders import build_open_study
from tests.support.raters import SimulatedRater
from tests.support.reports import report_computed


def rate_everything(study, choices):
    """Five raters answer every item; rater i chooses `choices[i]` (left/right) on every question."""
    for i, choice in enumerate(choices):
        SimulatedRater(f"w{i}", choice=choice).join(study).rate_all()


@pytest.fixture
def rated_study(db):
    study = build_open_study(n_prompts=3, raters=5, name="Report study")
    rate_everything(study, ["left", "left", "right", "left", "right"])
    return study


def read_csv(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_it_exports_one_row_per_rating_and_question(rated_study, tmp_path):
    out = tmp_path / "votes.csv"
    call_command("export_votes", rated_study.name, "-o", str(out))
    rows = read_csv(out)
    assert list(rows[0]) == [*COLUMNS, "position"]  # the contract's columns, then the optional ones
    assert len(rows) == 3 * 5 * 2
    for row in rows:
        assert row["study"] == "Report study"
        assert {row["system_a"], row["system_b"]} == {"SecretModelX", "SecretModelY"}
        assert row["choice"] in {row["system_a"], row["system_b"]}
        assert row["left"] in {row["system_a"], row["system_b"]}
        assert row["created_at"].endswith("+00:00")
    # The stored placement decides which system a "left" click chose.
    by_rater = {(r["rater"], r["item"], r["question"]): r for r in rows}
    assert all((r["choice"] == r["left"]) == (r["rater"] in {"w0", "w1", "w3"}) for r in by_rater.values())
    assert not list(tmp_path.glob(".votes.csv.*")), "no temporary file is left behind"


def test_it_leaves_out_attention_items_and_raters_below_the_threshold(rated_study, tmp_path):
    item = Item.objects.filter(study=rated_study).first()
    Item.objects.filter(pk=item.pk).update(is_attention=True, expected="a")
    rated_study.attention_threshold = 0.5
    rated_study.save()
    rated_study.raters.filter(worker_id="w4").update(attention_failed=3)
    out = tmp_path / "votes.csv"
    call_command("export_votes", rated_study.slug, "-o", str(out))
    rows = read_csv(out)
    assert {r["item"] for r in rows} == {str(i.pk) for i in Item.objects.filter(study=rated_study, is_attention=False)}
    assert "w4" not in {r["rater"] for r in rows}
    call_command("export_votes", rated_study.slug, "-o", str(out), "--all-raters")
    assert "w4" in {r["rater"] for r in read_csv(out)}


def test_it_reports_the_figures_the_analysis_command_computes_from_the_csv(rated_study, tmp_path):
    votes, report = tmp_path / "votes.csv", tmp_path / "report.json"
    call_command("export_votes", rated_study.name, "-o", str(votes))
    call_command("report", rated_study.name, "--format", "json", "-o", str(report), "--bootstrap", "50")
    cli = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(votes), "--format", "json", "--bootstrap", "50"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    ours, theirs = json.loads(report.read_text()), json.loads(cli.stdout)
    assert ours["pairs"] == theirs["pairs"]
    assert ours["ranking"] == theirs["ranking"]
    # Recount one figure by hand from the CSV: the items each system's majority won on quality.
    rows = [r for r in read_csv(votes) if r["question"] == "quality"]
    wins = {"SecretModelX": 0, "SecretModelY": 0}
    for item in {r["item"] for r in rows}:
        chosen = [r["choice"] for r in rows if r["item"] == item]
        wins[max(set(chosen), key=chosen.count)] += 1
    pair = next(p for p in ours["pairs"] if p["question"] == "quality")
    assert pair["items"] == 3 and sum(pair["vote_splits"].values()) == 3
    assert {pair["system_a"]: pair["wins_a"], pair["system_b"]: pair["wins_b"]} == wins
    assert ours["study"]["raters_per_item"] == 5 and "completion_code" not in ours["study"]


@pytest.mark.parametrize("fmt", ["csv", "html"])
def test_it_writes_csv_and_html_reports(rated_study, tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    call_command("report", rated_study.name, "--format", fmt, "-o", str(out), "--bootstrap", "20")
    text = out.read_text()
    assert "SecretModelX" in text
    if fmt == "html":
        assert text.lstrip().lower().startswith("<!doctype html>")
        assert "Report study" in text


def test_it_names_the_unknown_study(db, tmp_path):
    with pytest.raises(CommandError, match="no study named 'nope'"):
        call_command("export_votes", "nope", "-o", str(tmp_path / "v.csv"))
    assert not (tmp_path / "v.csv").exists()


def test_it_serves_the_report_and_downloads_to_researchers_only(rated_study, researcher_client):
    from django.test import Client

    slug = rated_study.slug
    assert Client().get(f"/studies/{slug}/report.html").status_code == 302  # to the login page
    page = researcher_client.get(f"/studies/{slug}")
    assert f"/studies/{slug}/report.json?download=1" in page.content.decode()
    computing = researcher_client.get(f"/studies/{slug}/report.html")
    assert computing.status_code == 202 and "being computed" in computing.content.decode()
    assert researcher_client.get(f"/studies/{slug}/report.json").status_code == 202
    report_computed(rated_study)
    html = researcher_client.get(f"/studies/{slug}/report.html")
    assert html.status_code == 200 and html["Content-Type"].startswith("text/html")
    assert "Report computed at" in html.content.decode() and "from every vote so far" in html.content.decode()
    votes = researcher_client.get(f"/studies/{slug}/votes.csv?download=1")
    assert votes["Content-Disposition"] == f'attachment; filename="votes-{slug}.csv"'
    assert votes.content.decode().splitlines()[0] == ",".join([*COLUMNS, "position"])
    report = researcher_client.get(f"/studies/{slug}/report.json").json()
    assert report["pairs"][0]["items"] == 3
    assert researcher_client.get(f"/studies/{slug}/report.pdf").status_code == 404


def test_it_returns_the_json_report_through_the_api(rated_study, client, researcher):
    from juice.auth import api_token_create

    url = f"/api/studies/{rated_study.slug}/report"
    assert client.get(url).status_code == 401
    key = api_token_create(user=researcher)
    first = client.get(url, HTTP_AUTHORIZATION=f"Token {key}")
    assert (first.status_code, first.json(), first["Retry-After"]) == (202, {"status": "computing"}, "3")
    report_computed(rated_study)
    body = client.get(url, HTTP_AUTHORIZATION=f"Token {key}").json()
    assert body["up_to_date"] is True and body["computed_at"]
    assert {p["question"] for p in body["pairs"]} == {"quality", "faithfulness"}
    assert set(body["ranking"]) == {"quality", "faithfulness"}


def test_cells_a_spreadsheet_would_run_are_escaped_and_the_report_survives_the_round_trip(db, researcher_client, tmp_path):
    study = build_open_study(n_prompts=3, raters=5, name="+Formula study")
    texts = ['=HYPERLINK("http://evil.example","click")', "@SUM(A1:A9)", "-2+3"]
    for item, text in zip(Item.objects.filter(study=study).order_by("pk"), texts, strict=True):
        item.prompt.text = text
        item.prompt.key = "-7" if text.startswith("=") else item.prompt.key  # a number stays a number
        item.prompt.save()
    rate_everything(study, ["left", "right", "right", "left", "right"])

    exported = researcher_client.get(f"/studies/{study.slug}/votes.csv?download=1").content.decode()
    rows = list(csv.DictReader(exported.splitlines()))
    assert {r["prompt"] for r in rows} == {"'" + text for text in texts}
    assert {r["study"] for r in rows} == {"'+Formula study"}
    assert "-7" in {r["prompt_id"] for r in rows}, "a number is written as a number"
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())

    votes = tmp_path / "votes.csv"
    votes.write_text(exported, encoding="utf-8")
    cli = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(votes), "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    report_computed(study)
    web = researcher_client.get(f"/studies/{study.slug}/report.json").json()
    theirs = json.loads(cli.stdout)
    assert web["pairs"] == theirs["pairs"] and web["ranking"] == theirs["ranking"]
    assert theirs["summary"]["studies"] == ["+Formula study"]


def test_the_study_page_offers_paper_tables_and_every_raters_figures(rated_study, researcher_client):
    slug = rated_study.slug
    page = researcher_client.get(f"/studies/{slug}").content.decode()
    for link in ("report.tex?download=1", "report.md?download=1", "raters.csv?download=1"):
        assert f"/studies/{slug}/{link}" in page
    report_computed(rated_study)
    latex = researcher_client.get(f"/studies/{slug}/report.tex?download=1")
    assert latex["Content-Disposition"] == f'attachment; filename="report-{slug}.tex"'
    text = latex.content.decode()
    assert "\\toprule" in text and "\\bottomrule" in text and "SecretModelX" in text
    markdown = researcher_client.get(f"/studies/{slug}/report.md").content.decode()
    assert "| SecretModelX" in markdown or "SecretModelX |" in markdown
    raters = list(csv.DictReader(researcher_client.get(f"/studies/{slug}/raters.csv").content.decode().splitlines()))
    assert sorted(r["rater"] for r in raters) == [f"w{i}" for i in range(5)]
    # Recount each rater's agreement with their item's majority from the votes CSV.
    votes = list(csv.DictReader(researcher_client.get(f"/studies/{slug}/votes.csv").content.decode().splitlines()))
    majority = {}
    for key in {(v["item"], v["question"]) for v in votes}:
        chosen = [v["choice"] for v in votes if (v["item"], v["question"]) == key]
        majority[key] = max(set(chosen), key=chosen.count)
    for rater in raters:
        mine = [v for v in votes if v["rater"] == rater["rater"]]
        agreeing = sum(v["choice"] == majority[v["item"], v["question"]] for v in mine)
        assert float(rater["majority_agreement"]) == pytest.approx(agreeing / len(mine))
        assert int(rater["votes"]) == len(mine)
    assert researcher_client.get(f"/studies/{slug}/report.docx").status_code == 404
