"""Admin for prompt sets, systems, their videos, generation jobs and matched encodes."""

from django.contrib import admin
from django.db.models import Count

from generation.models import GenerationJob, MatchedVideo, Prompt, PromptSet, System, Video


@admin.register(PromptSet)
class PromptSetAdmin(admin.ModelAdmin):
    list_display = ["name", "prompt_count", "source_name", "created_by", "created_at"]
    search_fields = ["name", "source_name"]
    readonly_fields = ["created_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(prompt_count=Count("prompts"))

    @admin.display(ordering="prompt_count", description="prompts")
    def prompt_count(self, obj):
        return obj.prompt_count


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["key", "prompt_set", "position", "category", "text"]
    list_filter = ["prompt_set", "category"]
    search_fields = ["key", "text"]
    raw_id_fields = ["prompt_set"]
    list_select_related = ["prompt_set"]


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "pipeline", "model", "created_at"]
    list_filter = ["kind"]
    search_fields = ["name", "model"]


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ["id", "system", "prompt", "width", "height", "fps", "frame_count", "duration", "codec", "created_at"]
    list_filter = ["system", "codec"]
    search_fields = ["prompt__key", "sha256"]
    raw_id_fields = ["system", "prompt"]
    list_select_related = ["system", "prompt"]
    # What ffprobe measured and the file's hash describe the file; they are not opinions to edit.
    readonly_fields = ["file", "sha256", "width", "height", "fps", "frame_count", "duration", "codec", "seed", "created_at"]


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "system", "prompt", "status", "attempts", "worker", "started_at", "finished_at"]
    list_filter = ["status", "system"]
    search_fields = ["prompt__key", "worker", "error", "prompt_used"]
    raw_id_fields = ["system", "prompt", "video"]
    list_select_related = ["system", "prompt"]
    readonly_fields = ["created_at", "started_at", "heartbeat_at", "finished_at", "worker", "prompt_used"]


@admin.register(MatchedVideo)
class MatchedVideoAdmin(admin.ModelAdmin):
    list_display = ["id", "source", "status", "width", "height", "fps", "frame_count", "duration", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["source"]
    list_select_related = ["source__system", "source__prompt"]
    readonly_fields = ["target_key", "target", "file", "sha256", "width", "height", "fps", "frame_count", "duration", "created_at"]
