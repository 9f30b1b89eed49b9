"""Admin for the annotation data. Votes and assignments are records, shown read-only."""

from django.contrib import admin

from annotation.models import Assignment, Item, Rater, RaterFigures, Report, Study, StudyPair, Vote


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the platform: hand edits would falsify results."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StudyPairInline(admin.TabularInline):
    model = StudyPair
    extra = 0
    raw_id_fields = ["system_a", "system_b"]
    fields = ["system_a", "system_b", "status", "settled_at"]
    readonly_fields = ["status", "settled_at"]


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "prompt_set", "raters_per_item", "tie_policy", "created_at"]
    list_filter = ["status", "tie_policy"]
    search_fields = ["name", "slug"]
    readonly_fields = ["slug", "created_at", "link_secret", "settle_excluded"]
    raw_id_fields = ["prompt_set"]
    filter_horizontal = ["invited"]
    inlines = [StudyPairInline]


@admin.register(StudyPair)
class StudyPairAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "system_a", "system_b", "status", "settled_at"]
    list_filter = ["status", "study"]
    raw_id_fields = ["study", "system_a", "system_b"]
    # Dynamic evaluation's record (annotation/rating/dynamic.py): what the votes said, not an editable setting.
    readonly_fields = ["status", "settled_at", "reason", "figures"]
    list_select_related = ["study", "system_a", "system_b"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "study", "pair", "prompt", "status", "claimed", "votes_done", "raters_needed", "is_attention"]
    list_filter = ["status", "is_attention", "study"]
    search_fields = ["prompt__key", "prompt__text"]
    raw_id_fields = ["study", "pair", "prompt", "video_a", "video_b", "matched_a", "matched_b"]
    # The counters are kept by the assignment service under row locks; editing them breaks the cap.
    readonly_fields = ["token_a", "token_b", "claimed", "votes_done", "matching_params", "shuffle", "decided"]
    list_select_related = ["study", "prompt", "pair__system_a", "pair__system_b"]


@admin.register(Rater)
class RaterAdmin(admin.ModelAdmin):
    list_display = ["worker_id", "study", "source", "votes_done", "attention_passed", "attention_failed", "created_at"]
    list_filter = ["source", "study"]
    search_fields = ["worker_id"]
    # The counters are kept by the vote statements; a form saving a stale value would lose votes.
    readonly_fields = ["study", "worker_id", "votes_done", "attention_passed", "attention_failed", "created_at", "order_a", "order_b",
                       "consented_at", "qualification"]
    raw_id_fields = ["user"]


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "rater", "item", "left", "status", "leased_until", "voted_at"]
    list_filter = ["status", "item__study"]
    search_fields = ["rater__worker_id"]
    list_select_related = ["rater", "item"]


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdmin):
    list_display = ["id", "assignment", "question", "choice", "reasons", "watch_ms", "created_at"]
    list_filter = ["question", "choice", "assignment__item__study"]
    search_fields = ["assignment__rater__worker_id"]
    list_select_related = ["assignment"]


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "assignment", "problem", "text", "created_at"]
    list_filter = ["problem", "assignment__item__study"]
    search_fields = ["assignment__rater__worker_id", "text"]
    list_select_related = ["assignment"]


@admin.register(RaterFigures)
class RaterFiguresAdmin(ReadOnlyAdmin):
    """Computed in the background from the votes (annotation/studies/figures.py): shown, never edited."""

    list_display = ["rater", "votes", "median_watch_ms", "left_share", "handed", "reported", "computed_at"]
    list_filter = ["rater__study"]
    search_fields = ["rater__worker_id"]
    list_select_related = ["rater"]
