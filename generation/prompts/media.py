"""What the media browser reads: a page of a prompt set's prompts, each with every system's video."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.paginator import Page, Paginator

from generation.models import Prompt, PromptSet, System, Video

PROMPTS_PER_MEDIA_PAGE = 20


@dataclass
class PromptRow:
    prompt: Prompt
    videos: list[Video | None]  # one per system of the page, in the page's order; None where it has none


@dataclass
class MediaPage:
    systems: list[System]
    page: Page
    rows: list[PromptRow]


def prompt_set_media(*, prompt_set: PromptSet, page: str | int | None = None) -> MediaPage:
    """The systems with a video in this prompt set, and one page of its prompts with their videos."""
    systems = list(System.objects.filter(videos__prompt__prompt_set=prompt_set).distinct().order_by("name"))
    prompts = Paginator(prompt_set.prompts.order_by("position"), PROMPTS_PER_MEDIA_PAGE).get_page(page)
    # With several samples per prompt, the browser shows sample 0 (the one a single-sample run makes).
    videos = {(v.system_id, v.prompt_id): v
              for v in Video.objects.select_related("system").filter(prompt__in=list(prompts), system__in=systems, sample=0)}
    rows = [PromptRow(prompt=p, videos=[videos.get((s.pk, p.pk)) for s in systems]) for p in prompts]
    return MediaPage(systems=systems, page=prompts, rows=rows)
