"""Study options, each declared once.

An option's name, kind, bounds, default, one-line help, where it applies and the other names it
goes by are written here and nowhere else. The API's input schema (`StudySpec`), the creation
page's form, the `create_study` flags, the API's output, the study page's settings, the report's
settings section, the design file and the rating page's configuration are all derived from
`OPTIONS` when they are used, so a new option is one declaration plus the code that enforces it.

This module sits below the annotation subpackages (it imports only the models and generation's
matching policy), so raters, rating, studies and reports may all read it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from annotation.models import QUESTIONS, REASON_KEY, Study
from generation.matching.policy import DEFAULT_POLICY, DURATIONS, policy_describe

Question = Literal["quality", "faithfulness"]

# A day of watching is a broken setting, not a careful study; a vote's watch time above it, a broken client.
MAX_WATCH_MS = 24 * 3600 * 1000
# The most samples per prompt a study compares (generation makes at most as many).
MAX_SAMPLES = 100
# The largest whole number a study's integer column holds (PostgreSQL's integer).
MAX_STORED_INT = 2**31 - 1
# `samples` as CONTRACT.md names it: as many samples as the systems have, with this report unit.
SAMPLE_MODES = {"matched": "prompt", "items": "item"}
# Where raters are sent at the end: a web address, with `{code}` where the completion code goes.
HAND_OFF_URL = r"$|https?://[^\s<>\"]+"
HAND_OFF_MESSAGE = "enter a web address starting with http:// or https://, with {code} where the code goes"
# The groups options are declared in, with the heading and the line the form and the command show
# before each ("study", the first, has none).
GROUPS = {
    "crowd": ("Crowd options", "What raters see before and after the items, who may take part, and whose votes count."),
    "matching": ("Matching", "Before anyone looks, both videos of every item are brought to one size, aspect, frame rate "
                             "and length, so that raters compare the models, not their output formats (Emu Video, Appendix D)."),
    "dynamic": ("Dynamic evaluation", "Spend fewer votes on pairs whose outcome is already settled."),
    "samples": ("Samples", "Several samples of each prompt per system."),
}
# How many items a rater must have been handed before the share they reported can flag them.
FLAG_AFTER_ITEMS = 10
# The matching policy's settings, each a flag of its own on the command line and a field on the page.
MATCHING_PARTS = tuple(DEFAULT_POLICY)
MATCHING_CHOICES = {"aspect": ("crop", "pad", "1:1", "16:9", "9:16", "4:3", "3:4"), "duration": DURATIONS}


class ReasonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Reason keys travel joined by ";" in the votes CSV, so they are plain identifiers.
    key: StrictStr = Field(pattern=f"^{REASON_KEY}$")
    label: StrictStr | None = None


class QualificationItemSpec(BaseModel):
    """A pair with a known right answer per question: `answers` names the better system of `pair`."""

    model_config = ConfigDict(extra="forbid")

    prompt: StrictStr
    pair: tuple[StrictStr, StrictStr]
    answers: dict[Question, StrictStr] = Field(min_length=1)


class QualificationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[QualificationItemSpec] = Field(min_length=1)
    mistakes_allowed: StrictInt = Field(0, ge=0)


def samples_valid(value: object) -> bool:
    """Whether `value` is a study's `samples`: a count from 1 to MAX_SAMPLES, or one of SAMPLE_MODES."""
    if isinstance(value, str):
        return value in SAMPLE_MODES
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_SAMPLES


# How each kind of option is typed in the schema; `json` options name their own type.
KIND_TYPES = {
    "int": StrictInt, "float": StrictFloat, "bool": StrictBool, "text": StrictStr, "longtext": StrictStr,
    "names": list[StrictStr], "reasons": dict[Question, list[ReasonSpec]],
    "parts": dict[StrictStr, StrictStr | StrictInt | StrictFloat | None], "samples": StrictInt | StrictStr,
}


# eq=False: an option is itself (hashed by identity), so the schemas and the form built from a set of
# declarations can be cached by the options themselves.
@dataclass(frozen=True, eq=False)
class Option:
    """One study option.

    kind: how it is typed and taken: int, float, bool, text (one line), longtext (Markdown or plain text;
    a file on the command line), choice, multichoice, json (a schema of its own; a JSON file on the
    command line), reasons, parts (the matching policy: a field and a flag per part), names, samples.
    column: the Study field that stores it; None keeps it in `Study.options`, which needs no migration.
    output: the API output's name when it differs; aliases: other names of the API input (each is also a
    command flag, and the form takes them too); design: its name in the design file; rating: the rating
    page is configured with it; private: the study page shows it but the report, which researchers
    share, leaves it out (a completion code is what raters redeem for pay).
    describe: how the pages and the report say a value in words (default by kind)."""

    name: str
    kind: str
    default: Any
    help: str
    label: str = ""
    bounds: Mapping[str, Any] = field(default_factory=dict)
    optional: bool = False
    choices: tuple[str, ...] = ()
    schema: Any = None
    group: str = "study"
    column: str | None = ""
    output: str = ""
    aliases: tuple[str, ...] = ()
    design: str = ""
    rating: bool = False
    private: bool = False
    describe: Callable[[Any], str] | None = None
    read: Callable[[Study], Any] | None = None
    # A text option's pattern, and what a value that does not match it is told.
    pattern: str = ""
    pattern_message: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def output_name(self) -> str:
        return self.output or self.name

    @property
    def python_type(self) -> Any:
        if self.schema is not None:
            base = self.schema
        elif self.kind == "choice":
            base = Literal[self.choices]
        elif self.kind == "multichoice":
            base = list[Literal[self.choices]]
        else:
            base = KIND_TYPES[self.kind]
        if self.pattern:
            base = Annotated[base, AfterValidator(self._matches)]
        return base | None if self.optional else base

    def _matches(self, value: str) -> str:
        if not re.fullmatch(self.pattern, value):
            raise ValueError(self.pattern_message)
        return value

    @property
    def range_words(self) -> str:
        """The bounds in words, e.g. "from 1 to 32767" or "above 0 and at most 0.5"; "" for none."""
        b = {k: v if isinstance(v, int) else f"{v:g}" for k, v in self.bounds.items()}
        if "ge" in b and "le" in b:
            return f"from {b['ge']} to {b['le']}"
        low = f"at least {b['ge']}" if "ge" in b else f"above {b['gt']}" if "gt" in b else ""
        high = f"at most {b['le']}" if "le" in b else f"below {b['lt']}" if "lt" in b else ""
        return " and ".join(w for w in (low, high) if w)

    @property
    def full_help(self) -> str:
        """The help with the bounds and the default, as the form and the command show it."""
        notes = [self.range_words] if self.range_words else []
        if self.default not in (None, "", [], {}) and self.kind not in ("longtext", "json", "reasons"):
            notes.append(f"default {self.words(self.default)}")
        return self.help + (f" ({'; '.join(notes)})" if notes else "")

    def field_info(self) -> Any:
        """The pydantic field: its default, help and bounds."""
        # pydantic copies a mutable default for each instance.
        # JSON Schema's patterns are not anchored: the document says what fullmatch checks.
        extra = {"json_schema_extra": {"pattern": f"^(?:{self.pattern})$"}} if self.pattern else {}
        return Field(self.default, description=self.help, **self.bounds, **extra)

    def value(self, study: Study) -> Any:
        """The study's value of this option."""
        if self.read is not None:
            return self.read(study)
        if self.column is None:
            return study.options.get(self.name, self.default)
        return getattr(study, self.column or self.name)

    def words(self, value: Any) -> str:
        """The value as the study page and the report say it."""
        if self.describe is not None:
            return self.describe(value)
        if value is None or value == "" or value == [] or value == {}:
            return "none"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        if self.kind == "longtext":
            return f"yes ({len(value)} characters)"
        return str(value)


def _qualification_words(value: dict | None) -> str:
    if not value or not value.get("items"):
        return "none"
    return f"{len(value['items'])} pair(s), {value.get('mistakes_allowed', 0)} mistake(s) allowed"


def _reasons_words(value: dict) -> str:
    return "; ".join(f"{q}: {', '.join(r['key'] for r in reasons)}" for q, reasons in value.items()) or "the JUICE reasons"


OPTIONS: list[Option] = [
    Option("raters", "int", 5, "Distinct raters per item; the majority of their votes decides it", output="raters_per_item",
           design="raters_per_item", column="raters_per_item", bounds={"ge": 1, "le": 32767}, label="Raters per item"),
    Option("questions", "multichoice", list(QUESTIONS), "The questions asked of every pair", choices=QUESTIONS,
           bounds={"min_length": 1}, design="questions"),
    Option("reasons", "reasons", {}, "The reasons offered per question (default: the JUICE reasons of the Emu Video paper)",
           describe=_reasons_words),
    Option("allow_tie", "bool", False, "Offer 'no preference' beside the two videos", label="Allow 'no preference'",
           design="allow_tie", rating=True),
    Option("lease_seconds", "int", 600, "An unanswered item returns to the pool after this many seconds",
           bounds={"ge": 10, "le": MAX_STORED_INT}),
    Option("completion_code", "text", None, "Shown to raters at the end; blank for a random one", optional=True,
           bounds={"max_length": 64}, private=True),
    Option("instructions", "longtext", "", "Markdown shown before the first item", group="crowd"),
    Option("matching", "parts", {}, "How both videos of an item are matched before anyone looks (Emu Video, Appendix D)",
           group="matching", describe=policy_describe),
    Option("attention_items", "int", 0, "Items with a known answer, added once the videos are ready",
           bounds={"ge": 0, "le": MAX_STORED_INT},
           group="crowd"),
    Option("attention_threshold", "float", None, "Raters below this attention pass rate are left out of the analysis",
           optional=True, bounds={"ge": 0, "le": 1}, group="crowd"),
    Option("invite", "names", [], "Accounts that may join without a worker id (usernames)", output="invited", group="crowd", private=True,
           column=None, read=Study.invited_names),
    Option("consent", "longtext", "", "Shown with the instructions; raters agree to it before the first item", group="crowd"),
    Option("qualification", "json", None, 'Practice pairs with known answers: {"items": [{"prompt": "p0001", "pair": ["A", "B"], '
           '"answers": {"quality": "A"}}], "mistakes_allowed": 0}', schema=QualificationSpec, optional=True, group="crowd",
           describe=_qualification_words, read=lambda study: study.qualification or None),
    Option("min_watch_ms", "int", 0, "Votes reporting less watch time (ms) are refused; Submit waits for it", group="crowd",
           bounds={"ge": 0, "le": MAX_WATCH_MS}, label="Minimum watch time (ms)", rating=True),
    Option("completion_url", "text", "", "Where a rater who finished is sent, e.g. a crowd platform's link; {code} is replaced",
           group="crowd", bounds={"max_length": 2000}, pattern=HAND_OFF_URL, pattern_message=HAND_OFF_MESSAGE, rating=True,
           label="Completion URL", private=True),
    Option("screenout_url", "text", "", "Where a rater who fails the qualification is sent; {code} is replaced", group="crowd",
           bounds={"max_length": 2000}, pattern=HAND_OFF_URL, pattern_message=HAND_OFF_MESSAGE, rating=True,
           label="Screen-out URL", private=True),
    Option("reports_per_minute", "int", 10, "Problem reports one rater may send a minute; more are refused (429) and the "
           "item stays theirs", group="crowd", bounds={"ge": 1, "le": 1000}, column=None),
    Option("report_share_flag", "float", 0.2, "A rater who reported more than this share of the items they were handed "
           f"(once handed at least {FLAG_AFTER_ITEMS}) is flagged on the study page for review", group="crowd",
           bounds={"ge": 0, "le": 1}, column=None, label="Flag raters reporting more than"),
    Option("signed_links", "bool", False, "Join links must carry sig, an HMAC of the worker id (make them on the study page)",
           group="crowd"),
    Option("early_stop", "bool", False, "Stop handing out an item once its outcome is decided", group="crowd",
           design="early_stop", label="Early stopping"),
    Option("dynamic", "bool", False, "Stop handing out a pair's items once a sequential test settles its outcome",
           group="dynamic", design="dynamic", label="Dynamic evaluation"),
    Option("dynamic_alpha", "float", 0.05, "Family-wise error rate over the pairs of each question",
           group="dynamic", bounds={"gt": 0, "le": 0.5}, aliases=("alpha",), design="alpha", label="Dynamic alpha"),
    Option("dynamic_ranking", "bool", False, "Also stop pairs whose order settled pairs imply by transitivity (a ranking study)",
           group="dynamic", design="ranking", label="Dynamic ranking"),
    Option("dynamic_burn_in", "float", 0.0, "Share of a pair's items that must finish before it may settle: a hold against "
           "raters who drift over time (no alpha is spent before it)", group="dynamic", bounds={"ge": 0, "lt": 1}, column=None,
           design="burn_in", label="Dynamic burn-in"),
    Option("seed", "int", None, "Fixes each rater's order of items; blank for a random one", optional=True,
           bounds={"ge": 0, "lt": MAX_STORED_INT}, label="Order seed"),
    Option("samples", "samples", 1, f"Samples per prompt compared, sample i against sample i (1 to {MAX_SAMPLES}), or 'matched' / "
           "'items' for every sample the systems have", group="samples"),
    Option("sample_unit", "choice", None, "The report's unit with several samples: each sample's item, or a prompt's majority "
           "over its samples (default: item; prompt with 'matched')", choices=("item", "prompt"), optional=True, group="samples"),
]


def option(name: str) -> Option:
    return next(o for o in OPTIONS if o.name == name)


@contextmanager
def options_declared(*extra: Option) -> Iterator[None]:
    """Declare more options for a while (a test's throwaway option)."""
    OPTIONS.extend(extra)
    try:
        yield
    finally:
        for added in extra:
            OPTIONS.remove(added)


def study_settings_list(study: Study, *, shared: bool = False) -> list[tuple[str, str]]:
    """Every option of `study` as (label, value in words), for the study page; `shared`: for the report,
    without the private ones."""
    return [(o.title, o.words(o.value(study))) for o in OPTIONS if not (shared and o.private)]


def report_options(study: Study) -> dict:
    """The options the report's JSON carries: the API's names and values, less the private ones."""
    return {o.output_name: o.value(study) for o in OPTIONS if not o.private}


def rating_config(study: Study) -> dict:
    """The options the rating page is configured with, by name."""
    return {o.name: o.value(study) for o in OPTIONS if o.rating}


def design_options(study: Study) -> dict:
    """The options the design file carries, by their names there."""
    return {o.design: o.value(study) for o in OPTIONS if o.design}


def output_options(study: Study) -> dict:
    """The options as the API reports them."""
    return {o.output_name: o.value(study) for o in OPTIONS}
