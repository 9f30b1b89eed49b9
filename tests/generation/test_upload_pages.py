"""The researcher pages for prompt sets and an external system's videos."""


import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from generation.models import Prompt, PromptSet, System, Video
from tests.support.state import snapshot
from tests.support.uploads import upload, zipped

pytestmark = pytest.mark.django_db


@pytest.fixture
def pika():
    return System.objects.create(name="pika", kind="external")


@pytest.fixture
def pages(pika):
    return [reverse("researcher-home"), reverse("prompt-set-upload"), reverse("system-videos-upload", args=[pika.pk])]


def test_it_sends_anonymous_visitors_to_the_login_page(client, pages):
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/?next="), url


def test_it_refuses_users_who_are_not_researchers(client, pages):
    client.force_login(get_user_model().objects.create_user("rater", password="rater-password-1"))
    home, *uploads = pages
    for url in uploads:
        assert client.get(url).status_code == 403, url
    # An annotator's home lists the studies it is invited to, and nothing of the researcher's.
    page = client.get(home).content.decode()
    assert "Your studies" in page and reverse("prompt-set-upload") not in page


def test_it_links_the_upload_pages_from_home(researcher_client, pika):
    html = researcher_client.get("/").content.decode()
    assert reverse("prompt-set-upload") in html and reverse("system-videos-upload", args=[pika.pk]) in html


def test_it_imports_a_prompt_set_and_lists_its_prompts_escaped(researcher_client, researcher):
    content = "id,text,category\ncat,A cat <script>alert(1)</script>,animals\ndog,A dog,animals\n"
    response = researcher_client.post(reverse("prompt-set-upload"), {"name": "web", "file": upload("p.csv", content)}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Imported 2 prompts into &#x27;web&#x27;." in html
    assert "A cat &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert PromptSet.objects.get(name="web").created_by == researcher


def test_it_shows_the_error_and_imports_nothing(researcher_client, media_root):
    before = snapshot(media_root)
    response = researcher_client.post(reverse("prompt-set-upload"), {"name": "web", "file": upload("p.csv", "id,text\na,x\na,y\n")})
    assert response.status_code == 400
    assert "p.csv, line 3: duplicate id &#x27;a&#x27; (first on line 2)" in response.content.decode()
    assert snapshot(media_root) == before


def test_it_refuses_an_upload_over_the_size_limit_before_reading_it(researcher_client, settings, media_root):
    settings.JUICE_MAX_UPLOAD_BYTES = 1000
    before = snapshot(media_root)
    response = researcher_client.post(reverse("prompt-set-upload"), {"name": "big", "file": upload("p.txt", "a cat\n" * 500)})
    assert response.status_code == 413
    assert "upload too large" in response.content.decode() and "the limit is 1,000 bytes" in response.content.decode()
    assert snapshot(media_root) == before


def test_it_imports_an_external_systems_videos(researcher_client, pika, sample_videos):
    prompt_set = PromptSet.objects.create(name="set")
    Prompt.objects.create(prompt_set=prompt_set, key="cat", position=1, text="A cat")
    archive = zipped({"cat.mp4": sample_videos["mp4"].read_bytes()})
    url = reverse("system-videos-upload", args=[pika.pk])
    response = researcher_client.post(url, {"prompt_set": "set", "file": upload("pika.zip", archive)}, follow=True)
    html = response.content.decode()
    assert "Imported 1 video of &#x27;pika&#x27; for prompt set &#x27;set&#x27;." in html
    assert "1 of 1" in html
    assert Video.objects.get().system == pika


def test_it_shows_every_rejected_video_and_imports_none(researcher_client, pika, sample_videos, media_root):
    prompt_set = PromptSet.objects.create(name="set")
    Prompt.objects.create(prompt_set=prompt_set, key="cat", position=1, text="A cat")
    archive = zipped({"cat.mp4": b"not a video", "../evil.mp4": sample_videos["mp4"].read_bytes()})
    before = snapshot(media_root)
    response = researcher_client.post(
        reverse("system-videos-upload", args=[pika.pk]), {"prompt_set": "set", "file": upload("pika.zip", archive)}
    )
    assert response.status_code == 400
    assert "pika.zip: entry &#x27;../evil.mp4&#x27; would escape the target folder" in response.content.decode()
    assert snapshot(media_root) == before


def test_it_has_no_upload_page_for_a_generated_system(researcher_client):
    system = System.objects.create(name="svd", kind="generated", pipeline="StableVideoDiffusionPipeline", model="/m")
    assert researcher_client.get(reverse("system-videos-upload", args=[system.pk])).status_code == 404


def test_a_long_prompt_set_is_paged(researcher_client):
    prompt_set = PromptSet.objects.create(name="long")
    Prompt.objects.bulk_create(Prompt(prompt_set=prompt_set, key=f"k{n:03d}", text=f"prompt {n}", position=n) for n in range(1, 202))
    for name, pages in (("prompt-set-detail", 2),):
        first = researcher_client.get(reverse(name, args=[prompt_set.pk])).content.decode()
        assert f"page 1 of {pages}" in first and 'href="?page=2" rel="next">next</a>' in first and ">previous</a>" not in first
        last = researcher_client.get(reverse(name, args=[prompt_set.pk]), {"page": pages}).content.decode()
        assert f"page {pages} of {pages}" in last and f'href="?page={pages - 1}" rel="prev">previous</a>' in last
        assert ">next</a>" not in last
