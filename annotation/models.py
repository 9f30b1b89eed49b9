"""Studies, items, raters, assignments and votes.

The invariants of the protocol live in the schema: one assignment per (rater, item), one vote
per (assignment, question), never more claimed raters on an item than it needs.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q

# Reason keys travel joined by ";" in the votes CSV, so they are plain identifiers.
REASON_KEY = r"[a-z0-9_]{1,64}"

QUALITY = "quality"
FAITHFULNESS = "faithfulness"
QUESTIONS = (QUALITY, FAITHFULNESS)

# The JUICE reasons of the Emu Video paper; a study may relabel them.
DEFAULT_REASONS = {
    QUALITY: [
        {"key": "pixel_sharpness", "label": "Pixel sharpness"},
        {"key": "motion_smoothness", "label": "Motion smoothness"},
        {"key": "recognizable_objects", "label": "Recognizable objects/scenes"},
        {"key": "frame_consistency", "label": "Frame consistency"},
        {"key": "amount_of_motion", "label": "Amount of motion"},
    ],
    FAITHFULNESS: [
        {"key": "spatial_alignment", "label": "Spatial text alignment"},
        {"key": "temporal_alignment", "label": "Temporal text alignment"},
    ],
}


def new_token(nbytes: int = 12) -> str:
    return secrets.token_urlsafe(nbytes)


def new_slug() -> str:
    # Public study slugs are random: a study's name may carry system names, its URL must not.
    return secrets.token_hex(5)


def new_completion_code() -> str:
    return secrets.token_hex(4).upper()


def new_secret() -> str:
    return secrets.token_hex(32)


def new_seed() -> int:
    # Below 2**31: it fits every database's integer column.
    return secrets.randbelow(2**31 - 1)


# Problems a rater may report instead of voting (CONTRACT.md, the annotator interface).
PROBLEMS = {
    "video_does_not_play": "A video does not play",
    "different_prompts": "The videos are not the same prompt",
    "other": "Other",
}


class Study(models.Model):
    class Status(models.TextChoices):
        PREPARING = "preparing"  # matched pairs are being built
        OPEN = "open"
        PAUSED = "paused"
        CLOSED = "closed"

    class TiePolicy(models.TextChoices):
        FORCED = "forced", "Forced choice"
        ALLOW = "allow", "No preference allowed"

    name = models.CharField(max_length=200, unique=True)
    slug = models.CharField(max_length=32, unique=True, default=new_slug, editable=False)
    prompt_set = models.ForeignKey("generation.PromptSet", related_name="studies", on_delete=models.PROTECT)
    questions = models.JSONField(default=list, help_text='e.g. ["quality", "faithfulness"]')
    reasons = models.JSONField(default=dict, help_text="question -> [{key, label}, ...]")
    raters_per_item = models.PositiveSmallIntegerField(default=5)
    tie_policy = models.CharField(max_length=10, choices=TiePolicy.choices, default=TiePolicy.FORCED)
    lease_seconds = models.PositiveIntegerField(default=600)
    completion_code = models.CharField(max_length=64, default=new_completion_code, blank=True)
    instructions = models.TextField(blank=True)
    matching = models.JSONField(default=dict, help_text="Matching policy: aspect, resolution, fps, duration")
    attention_threshold = models.FloatField(null=True, blank=True)
    # How many attention items the study mixes in; they are built from ready items once matching is done.
    attention_items = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PREPARING)
    # Study options: what each means, its bounds and default are declared once in annotation/options.py.
    consent = models.TextField(blank=True)
    qualification = models.JSONField(default=dict, blank=True, help_text='{"items": [...], "mistakes_allowed": 0}; {} for none')
    min_watch_ms = models.PositiveIntegerField(default=0)
    completion_url = models.CharField(max_length=2000, blank=True)
    screenout_url = models.CharField(max_length=2000, blank=True)
    signed_links = models.BooleanField(default=False)
    link_secret = models.CharField(max_length=64, default=new_secret, editable=False)
    early_stop = models.BooleanField(default=False)
    # Dynamic evaluation (analysis/sequential.py): a pair stops receiving items once settled.
    dynamic = models.BooleanField(default=False, db_default=False)
    dynamic_alpha = models.FloatField(default=0.05, db_default=0.05)
    dynamic_ranking = models.BooleanField(default=False, db_default=False)
    # The options declared without a field of their own (annotation/options.py), by name.
    options = models.JSONField(default=dict, db_default={}, blank=True)
    # Dynamic evaluation's bookkeeping (annotation/rating/dynamic.py): the raters the analysis left out
    # when the pairs' stored paths were last advanced; a change sends their items through settlement again.
    settle_excluded = models.JSONField(default=list, db_default=[], blank=True)
    # Each rater's order of items derives from it and the worker id: a copy with the same seed repeats it.
    seed = models.PositiveIntegerField(default=new_seed)
    # Several samples per prompt: item (pair, prompt, i) shows sample i of both systems. The report's
    # unit: each sample's item ("item") or the majority over a prompt's samples ("prompt").
    samples = models.PositiveSmallIntegerField(default=1)
    sample_unit = models.CharField(max_length=6, choices=[("item", "item"), ("prompt", "prompt")], default="item")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # Accounts that may join without a worker id, once logged in (annotation/raters/services.py).
    invited = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="invited_studies")

    class Meta:
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(condition=Q(raters_per_item__gte=1), name="study_raters_positive"),
            models.CheckConstraint(condition=Q(lease_seconds__gte=10), name="study_lease_min"),
            models.CheckConstraint(condition=Q(samples__gte=1), name="study_samples_positive"),
            models.CheckConstraint(condition=Q(dynamic_alpha__gt=0, dynamic_alpha__lte=0.5), name="study_dynamic_alpha_range"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def allow_tie(self) -> bool:
        return self.tie_policy == self.TiePolicy.ALLOW

    def invited_names(self) -> list[str]:
        """The usernames of the accounts invited to the study, in order."""
        return list(self.invited.order_by("username").values_list("username", flat=True))


class StudyPair(models.Model):
    class Status(models.TextChoices):
        """Where the pair stands in a dynamic study (analysis/sequential.py)."""

        OPEN = "open"
        SETTLED = "settled"  # every question settled by the sequential test: its items are handed out no more
        NOT_NEEDED = "not_needed", "not needed"  # ranking: settled pairs imply its order

    study = models.ForeignKey(Study, related_name="pairs", on_delete=models.CASCADE)
    system_a = models.ForeignKey("generation.System", related_name="+", on_delete=models.PROTECT)
    system_b = models.ForeignKey("generation.System", related_name="+", on_delete=models.PROTECT)
    # Dynamic evaluation, written by annotation/rating/dynamic.py: a settlement is final (the pair's items
    # stay decided); while open, `reason` and `figures` follow the votes.
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_default=Status.OPEN)
    settled_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, db_default="")
    # Per question: winner (system name or null), items (when it settled), repeated_p, adjusted_p, level, interval;
    # and items_finished, cap.
    figures = models.JSONField(default=dict, blank=True, db_default={})
    # Dynamic evaluation: per question, the outcomes of the pair's finished items in finish order, one letter
    # each ("a", "b", "t" for a tie): the sequential test's path, advanced by each settlement run.
    paths = models.JSONField(default=dict, blank=True, db_default={})

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "system_a", "system_b"], name="pair_unique"),
            models.CheckConstraint(condition=~Q(system_a=F("system_b")), name="pair_distinct_systems"),
        ]

    def __str__(self) -> str:
        return f"{self.system_a} vs {self.system_b}"


class Item(models.Model):
    """One prompt judged between two systems' videos, matched to each other before anyone looks."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        FAILED = "failed"
        DROPPED = "dropped"

    study = models.ForeignKey(Study, related_name="items", on_delete=models.CASCADE)
    pair = models.ForeignKey(StudyPair, related_name="items", on_delete=models.CASCADE)
    prompt = models.ForeignKey("generation.Prompt", related_name="items", on_delete=models.PROTECT)
    # Which sample of the prompt both videos are (Study.samples); 0 with one sample per prompt.
    sample = models.PositiveSmallIntegerField(default=0)
    # Not indexed whole: every claim changes `claimed`, which item_claimable_idx holds, so it writes a new
    # entry in each of the item's indexes (bench/bench_scale.py, migration 0019). The matched videos are
    # looked up by pending items only (matching), through the partial indexes below; a video's items are
    # looked up only when the video is deleted (PROTECT), which reads the table.
    video_a = models.ForeignKey("generation.Video", related_name="+", on_delete=models.PROTECT, db_index=False)
    video_b = models.ForeignKey("generation.Video", related_name="+", on_delete=models.PROTECT, db_index=False)
    matched_a = models.ForeignKey("generation.MatchedVideo", null=True, blank=True, related_name="+", on_delete=models.PROTECT,
                                  db_index=False)
    matched_b = models.ForeignKey("generation.MatchedVideo", null=True, blank=True, related_name="+", on_delete=models.PROTECT,
                                  db_index=False)
    # Opaque media tokens: what the rater's browser sees instead of any file or system name.
    # Unique by the constraints below: a unique=True CharField would also get a LIKE index on
    # PostgreSQL, one more index to write on every claim for a token only ever compared whole.
    token_a = models.CharField(max_length=32, default=new_token, editable=False)
    token_b = models.CharField(max_length=32, default=new_token, editable=False)
    matching_params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    # Attention items: the answer is known in advance ("a" or "b" is the better video).
    is_attention = models.BooleanField(default=False)
    expected = models.CharField(max_length=1, blank=True, choices=[("a", "a"), ("b", "b")])
    raters_needed = models.PositiveSmallIntegerField()
    # The item's place in the study's shuffle (annotation/raters/order.py), the same in a copy with the same seed.
    shuffle = models.BigIntegerField(default=0)
    # Assignments holding a live lease or already voted; the check constraint caps it.
    claimed = models.PositiveSmallIntegerField(default=0)
    votes_done = models.PositiveSmallIntegerField(default=0)
    # Early stopping (Study.early_stop): its outcome is decided on every question, so it is handed out no more.
    decided = models.BooleanField(default=False, db_default=False)
    # Dynamic evaluation: the place of this item's look among the study's, given once, under the
    # study's lock, when the monitor first finds its outcome final (annotation/rating/dynamic.py);
    # the design file carries the order, so the analysis looks in the same order.
    finished_order = models.PositiveIntegerField(null=True, blank=True)
    # Dynamic evaluation: a vote made its outcome final (or was its last): settlement has to look at it.
    settle_due = models.BooleanField(default=False, db_default=False)
    # Dynamic evaluation: its outcome as settlement last found it from the votes the analysis counts, one
    # letter per question of the study ("a", "b", "t"); empty while not final.
    outcome = models.CharField(max_length=8, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "pair", "prompt", "sample"], condition=Q(is_attention=False), name="item_unique"),
            models.UniqueConstraint(fields=["token_a"], name="item_token_a_unique"),
            models.UniqueConstraint(fields=["token_b"], name="item_token_b_unique"),
            models.CheckConstraint(condition=Q(claimed__lte=F("raters_needed")), name="item_claimed_le_needed"),
            models.CheckConstraint(condition=Q(votes_done__lte=F("claimed")), name="item_done_le_claimed"),
            models.CheckConstraint(condition=~Q(video_a=F("video_b")), name="item_distinct_videos"),
        ]
        # The claim walks this index in (claimed, shuffle) order and stops after a window of free items,
        # so no claim sorts the whole pool (annotation/rating/claim.py).
        indexes = [
            # The claimable items only (a claim's CLAIMABLE implies the condition): a full or decided item
            # leaves it, so a claim on a study of 100,000 votes never steps over the finished items.
            models.Index(fields=["study", "status", "claimed", "shuffle", "id"], name="item_claimable_idx",
                         condition=Q(claimed__lt=F("raters_needed"), decided=False)),
            models.Index(fields=["matched_a"], condition=Q(status="pending"), name="item_pending_matched_a_idx"),
            models.Index(fields=["matched_b"], condition=Q(status="pending"), name="item_pending_matched_b_idx"),
            models.Index(fields=["study"], condition=Q(settle_due=True), name="item_settle_due_idx"),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} of {self.study_id}"


class Rater(models.Model):
    class Source(models.TextChoices):
        LINK = "link"
        PROLIFIC = "prolific"
        MTURK = "mturk"
        INVITED = "invited"

    # Indexed by rater_unique_worker, which starts with the study.
    study = models.ForeignKey(Study, related_name="raters", on_delete=models.CASCADE, db_index=False)
    worker_id = models.CharField(max_length=128)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LINK)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # Kept by the transaction that records a vote (annotation/rating/voting.py), like Item.votes_done: every
    # `next` shows it, and counting the rater's voted assignments there cost more than the claim.
    # db_default: processes still running the previous code during a deploy can create raters.
    votes_done = models.PositiveIntegerField(default=0, db_default=0)
    attention_passed = models.PositiveIntegerField(default=0)
    attention_failed = models.PositiveIntegerField(default=0)
    # This rater's permutation of the items' shuffle (annotation/raters/order.py): x -> (x * a + b) mod P.
    order_a = models.BigIntegerField(default=1, db_default=1)
    order_b = models.BigIntegerField(default=0, db_default=0)
    # When the rater read the instructions and agreed to the consent text (the study's first page).
    consented_at = models.DateTimeField(null=True, blank=True)
    # A study with a qualification admits a rater once they pass it (annotation/rating/qualification.py);
    # one who fails is screened out and handed no item. Each answer is kept: [{"index", "answers", "correct"}].
    admitted = models.BooleanField(default=True, db_default=True)
    screened_out = models.BooleanField(default=False, db_default=False)
    qualification = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "worker_id"], name="rater_unique_worker"),
            # One rater per account and study, whatever its worker id: an account is one person.
            models.UniqueConstraint(fields=["study", "user"], condition=Q(user__isnull=False), name="rater_unique_account"),
        ]

    def __str__(self) -> str:
        return self.worker_id


class RaterFigures(models.Model):
    """A rater's figures that need their votes and assignments (the study page's rater table), computed in
    the background (annotation/studies/figures.py) so that the page reads one row per rater it shows."""

    rater = models.OneToOneField(Rater, primary_key=True, related_name="figures", on_delete=models.CASCADE)
    votes = models.PositiveIntegerField()  # the votes these figures count: stale once the rater's votes_done moves on
    median_watch_ms = models.FloatField(null=True)
    left_share = models.FloatField(null=True)  # of the decisive answers, the share for the video shown on the left
    handed = models.PositiveIntegerField()  # items handed out, practice pairs left out
    reported = models.PositiveIntegerField()
    computed_at = models.DateTimeField()


class Assignment(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        VOTED = "voted"
        EXPIRED = "expired"
        REPORTED = "reported"  # the rater reported a problem with the item instead of voting
        PRACTICE = "practice"  # shown as a qualification pair: never claimed by or voted on by that rater

    class Left(models.TextChoices):
        A = "a"
        B = "b"

    # Unique by assignment_token_unique (no LIKE index, as for Item's tokens); the rater is indexed
    # by assignment_unique_rater_item, which starts with it.
    token = models.CharField(max_length=32, default=new_token, editable=False)
    rater = models.ForeignKey(Rater, related_name="assignments", on_delete=models.CASCADE, db_index=False)
    item = models.ForeignKey(Item, related_name="assignments", on_delete=models.CASCADE)
    left = models.CharField(max_length=1, choices=Left.choices, help_text="Which system's video was shown on the left")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    leased_until = models.DateTimeField()
    # The item's place in the rater's sequence, 1-based (the votes CSV's `position`); null before it was recorded.
    position = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    voted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token"], name="assignment_token_unique"),
            models.UniqueConstraint(fields=["rater", "item"], name="assignment_unique_rater_item"),
            # A rater holds at most one live assignment per study at a time.
            models.UniqueConstraint(fields=["rater"], condition=Q(status="active"), name="assignment_one_active"),
        ]
        # The sweep's: live leases only, so that a vote (which ends one) writes no entry here.
        indexes = [models.Index(fields=["leased_until"], condition=Q(status="active"), name="assignment_live_lease_idx")]


class Vote(models.Model):
    class Choice(models.TextChoices):
        A = "a"
        B = "b"
        TIE = "tie"

    # Indexed by vote_unique_question, which starts with the assignment.
    assignment = models.ForeignKey(Assignment, related_name="votes", on_delete=models.CASCADE, db_index=False)
    question = models.CharField(max_length=32)
    choice = models.CharField(max_length=3, choices=Choice.choices)
    reasons = models.JSONField(default=list)
    watch_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "question"], name="vote_unique_question"),
            models.CheckConstraint(condition=Q(choice__in=["a", "b", "tie"]), name="vote_choice_valid"),
        ]


class Report(models.Model):
    """A problem a rater reported with an item instead of voting on it; the researcher sees it on the study page."""

    assignment = models.OneToOneField(Assignment, related_name="report", on_delete=models.CASCADE)
    problem = models.CharField(max_length=32, choices=[(k, v) for k, v in PROBLEMS.items()])
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
