"""The study creation page's form, built from the declared study options (annotation/options.py).

Each option becomes a field (the matching policy one per setting, reasons one per question) with its
label, help and bounds as the browser's min/max; what the researcher typed is validated by the same
schema as the API's, so a value out of bounds is refused with the API's message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from pydantic import ValidationError

from annotation.models import DEFAULT_REASONS, QUESTIONS, REASON_KEY
from annotation.options import GROUPS, MATCHING_CHOICES, MATCHING_PARTS, OPTIONS, Option
from annotation.studies.schemas import StudyBase, study_spec_model
from generation.matching.policy import POLICY_HELP
from generation.models import PromptSet
from juice.http import problem_message

PAIR_LINE = re.compile(r"^(.+?)\s*(?:,|\bvs\b)\s*(.+)$")
REASON_LINE = re.compile(rf"^({REASON_KEY})\s*:\s*(.+)$")
NAMES = re.compile(r"[\s,]+")
GROUP_ORDER = ("study", *GROUPS)
# Stand-ins for the study's own fields when they are wrong, so the options' errors show at the same time.
STAND_INS = {"name": "-", "prompt_set": "-", "pairs": [("-", "=")]}


class MISSING:
    """A field left blank: the option takes its default."""


def _lines(text: str, pattern: re.Pattern, what: str) -> list[tuple[str, str]]:
    """Non-blank lines matching `pattern` (two groups); a bad line is a form error naming its number."""
    result = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = pattern.match(line.strip())
        if not match:
            raise forms.ValidationError(f"line {number}: expected {what}, got {line.strip()!r}")
        result.append((match.group(1).strip(), match.group(2).strip()))
    return result


def _attrs(declared: Option) -> dict:
    """The bounds the browser checks too (the schema's are what count): an exclusive bound is the next
    whole number for an integer, and left to the server for a number with decimals."""
    b, attrs = declared.bounds, {}
    if "max_length" in b:
        attrs["maxlength"] = b["max_length"]
    integer = declared.kind == "int"
    for inclusive, exclusive, step, attr in (("ge", "gt", 1, "min"), ("le", "lt", -1, "max")):
        if inclusive in b:
            attrs[attr] = b[inclusive]
        elif exclusive in b and integer:
            attrs[attr] = b[exclusive] + step
    if declared.kind == "float":
        attrs["step"] = "any"
    return attrs


def _initial(declared: Option) -> Any:
    return None if declared.default in (None, [], {}) else declared.default


def _simple_field(declared: Option) -> forms.Field:
    """The one form field of an option of a plain kind."""
    common = {"required": False, "label": declared.title, "help_text": declared.full_help, "initial": _initial(declared)}
    attrs = _attrs(declared)
    if declared.kind == "int":
        return forms.IntegerField(widget=forms.NumberInput(attrs=attrs), **common)
    if declared.kind == "float":
        return forms.FloatField(widget=forms.NumberInput(attrs=attrs), **common)
    if declared.kind == "bool":
        return forms.BooleanField(**common)
    if declared.kind == "choice":
        return forms.ChoiceField(choices=[("", "default"), *((c, c) for c in declared.choices)], **common)
    if declared.kind == "multichoice":
        return forms.MultipleChoiceField(choices=[(c, c) for c in declared.choices], widget=forms.CheckboxSelectMultiple, **common)
    if declared.kind in ("longtext", "json", "names"):
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
    return forms.CharField(widget=forms.TextInput(attrs=attrs), **common)


def option_fields(declared: Option) -> dict[str, forms.Field]:
    """The form fields of one option, by field name."""
    if declared.kind == "reasons":
        return {
            f"{q}_reasons": forms.CharField(
                widget=forms.Textarea(attrs={"rows": len(DEFAULT_REASONS[q]) + 1}), required=False,
                label=f"{q.capitalize()} reasons", help_text="One reason per line: key: label",
                initial="\n".join(f"{r['key']}: {r['label']}" for r in DEFAULT_REASONS[q]))
            for q in QUESTIONS
        }
    if declared.kind == "parts":
        return {f"{declared.name}_{part}": _part_field(part) for part in MATCHING_PARTS}
    return {declared.name: _simple_field(declared)}


def _part_field(part: str) -> forms.Field:
    common = {"required": False, "label": part.capitalize() if part != "fps" else "Frame rate", "help_text": POLICY_HELP[part]}
    if part in MATCHING_CHOICES:
        return forms.ChoiceField(choices=[(c, c) for c in MATCHING_CHOICES[part]], initial=MATCHING_CHOICES[part][0], **common)
    return forms.CharField(max_length=12, **common)


def _given(declared: Option, data: dict) -> Any:
    """What the form's cleaned `data` gives for an option, or MISSING to take its default."""
    if declared.kind == "reasons":
        return {q: data[f"{q}_reasons"] for q in QUESTIONS if data.get(f"{q}_reasons")} or MISSING
    if declared.kind == "parts":
        return {part: (data.get(f"{declared.name}_{part}") or "").strip() or None for part in MATCHING_PARTS}
    value = data.get(declared.name)
    if declared.kind == "multichoice":
        return value  # none ticked is an answer, which the schema refuses
    if value is None or value == "":
        return MISSING
    if declared.kind == "names":
        return [n for n in NAMES.split(value) if n]
    if declared.kind == "samples":
        text = value.strip()
        return int(text) if text.isdigit() else text
    if declared.kind == "text":
        return value.strip() or MISSING
    if declared.kind == "json":
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{declared.name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return value


class StudyFormBase(forms.Form):
    name = forms.CharField(max_length=200)
    prompt_set = forms.ModelChoiceField(queryset=PromptSet.objects.order_by("name"))
    pairs = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="One pair per line: System A, System B")

    # The field of each option's form error (its first field).
    first_fields: dict[str, str] = {}
    # Field name -> (heading, text) shown before it.
    headings: dict[str, tuple[str, str]] = {}

    def clean_pairs(self) -> list[tuple[str, str]]:
        return _lines(self.cleaned_data["pairs"], PAIR_LINE, "'System A, System B'")

    def _reasons(self, question: str) -> list[dict]:
        lines = _lines(self.cleaned_data.get(f"{question}_reasons", ""), REASON_LINE, "'key: label'")
        return [{"key": k, "label": v} for k, v in lines]

    def clean_quality_reasons(self) -> list[dict]:
        return self._reasons("quality")

    def clean_faithfulness_reasons(self) -> list[dict]:
        return self._reasons("faithfulness")

    def __init__(self, data=None, *args, **kwargs) -> None:
        if data is not None:
            data = data.copy()
            for declared in OPTIONS:  # an option's other names (the API output's `raters_per_item`, say)
                for alias in (declared.output, *declared.aliases):
                    if alias and alias in data and declared.name not in data:
                        data.setlist(declared.name, data.getlist(alias))
        super().__init__(data, *args, **kwargs)

    def clean(self) -> dict:
        data = super().clean()
        own_fields_wrong = bool(self.errors)
        prompt_set = data.get("prompt_set")
        given = {"name": data.get("name") or STAND_INS["name"], "prompt_set": prompt_set.name if prompt_set else STAND_INS["prompt_set"],
                 "pairs": data.get("pairs") or STAND_INS["pairs"]}
        for declared in OPTIONS:
            try:
                value = _given(declared, data)
            except ValueError as exc:
                self.add_error(self.first_fields[declared.name], str(exc))
                continue
            if value is not MISSING:
                given[declared.name] = value
        if any(field in self.errors for field in self.first_fields.values()):
            return data
        try:
            # As JSON, as the API reads it: the same value is refused with the same message.
            self.study_spec = study_spec_model().model_validate_json(json.dumps(given))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                where = self.first_fields.get(str(error["loc"][0])) if error["loc"] else None
                if not (own_fields_wrong and where is None):  # a rule across fields, judged once they are right
                    self.add_error(where, problem_message(error))
        return data

    def spec(self) -> StudyBase:
        """The valid form as the study to create."""
        return self.study_spec


_forms: dict[tuple, type[StudyFormBase]] = {}


def study_form_class() -> type[StudyFormBase]:
    """The creation form with the fields of every declared option (built once per set of declarations)."""
    key = tuple(OPTIONS)
    if key not in _forms:
        fields, first, headings, seen = {}, {}, {}, set()
        # Grouped as the headings go (the declarations' own order within a group).
        for declared in sorted(OPTIONS, key=lambda o: GROUP_ORDER.index(o.group) if o.group in GROUP_ORDER else 0):
            made = option_fields(declared)
            first[declared.name] = next(iter(made))
            if declared.group in GROUPS and declared.group not in seen:
                seen.add(declared.group)
                headings[next(iter(made))] = GROUPS[declared.group]
            fields.update(made)
        _forms[key] = type("StudyForm", (StudyFormBase,), {**fields, "first_fields": first, "headings": headings})
    return _forms[key]
