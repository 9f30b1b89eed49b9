"""What an import may change: the rows it creates and the files under MEDIA_ROOT.

A rejected import must leave both exactly as they were.
"""

from __future__ import annotations

from pathlib import Path

from generation.models import Prompt, PromptSet, Video


def snapshot(media_root: Path) -> tuple:
    files = sorted(str(p.relative_to(media_root)) for p in Path(media_root).rglob("*") if p.is_file())
    return PromptSet.objects.count(), Prompt.objects.count(), Video.objects.count(), files
