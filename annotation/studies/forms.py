"""The study creation page's form: what a researcher types, turned into a StudySpec."""

from __future__ import annotations

import re

from django import forms
from django.core.validators import RegexValidator

from annotation.models import DEFAULT_REASONS, QUESTIONS, REASON_KEY
from annotation.studies.schemas import HAND_OFF_URL, MAX_SAMPLES, MAX_WATCH_MS, QualificationSpec, StudySpec, samples_valid
from generation.matching.policy import DURATIONS, POLICY_HELP
from generation.models import PromptSet
from juice.http import InputError, input_parse

PAIR_LINE = re.compile(r"^(.+?)\s*(?:,|\bvs\b)\s*(.+)$")
REASON_LINE = re.compile(rf"^({REASON_KEY})\s*:\s*(.+)$")
HAND_OFF = RegexValidator(HAND_OFF_URL, "Enter a web address starting with http:// or https://, with {code} where the code goes.")


def _reasons_text(question: str) -> str:
    return "\n".join(f"{r['key']}: {r['label']}" for r in DEFAULT_REASONS[question])


def _parse_lines(text: str, pattern: re.Pattern, what: str) -> list[tuple[str, str]]:
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


class StudyForm(forms.Form):
    name = forms.CharField(max_length=200)
    prompt_set = forms.ModelChoiceField(queryset=PromptSet.objects.order_by("name"))
    pairs = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="One pair per line: System A, System B")
    raters_per_item = forms.IntegerField(min_value=1, max_value=100, initial=5)
    questions = forms.MultipleChoiceField(choices=[(q, q) for q in QUESTIONS], initial=list(QUESTIONS), widget=forms.CheckboxSelectMultiple)
    quality_reasons = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), initial=_reasons_text("quality"), required=False,
                                      help_text="One reason per line: key: label")
    faithfulness_reasons = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), initial=_reasons_text("faithfulness"),
                                           required=False, help_text="One reason per line: key: label")
    allow_tie = forms.BooleanField(required=False, label="Allow 'no preference'")
    lease_seconds = forms.IntegerField(min_value=10, initial=600, help_text="An unanswered item returns to the pool after this")
    completion_code = forms.CharField(max_length=64, required=False, help_text="Shown to raters at the end; blank for a random one")
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    attention_items = forms.IntegerField(min_value=0, initial=0, help_text="Items with a known answer, added once the videos are ready")
    attention_threshold = forms.FloatField(min_value=0, max_value=1, required=False,
                                           help_text="Raters below this attention pass rate are excluded from the analysis")
    consent = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False,
                              help_text="Shown with the instructions; raters agree to it before the first item")
    qualification = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                                    help_text='JSON: {"items": [{"prompt": "p0001", "pair": ["A", "B"], "answers": '
                                              '{"quality": "A"}}], "mistakes_allowed": 0}')
    min_watch_ms = forms.IntegerField(min_value=0, max_value=MAX_WATCH_MS, initial=0, required=False, label="Minimum watch time (ms)",
                                      help_text="Votes reporting less watch time are refused")
    completion_url = forms.CharField(max_length=2000, required=False, validators=[HAND_OFF],
                                     help_text="Where raters are sent at the end, e.g. your crowd platform's link; {code} is replaced")
    screenout_url = forms.CharField(max_length=2000, required=False, validators=[HAND_OFF],
                                    help_text="Where raters who fail the qualification are sent; {code} is replaced")
    signed_links = forms.BooleanField(required=False, help_text="Join links must carry sig (the links are on the study page)")
    early_stop = forms.BooleanField(required=False, help_text="Stop handing out an item once its outcome is decided")
    dynamic = forms.BooleanField(required=False, label="Dynamic evaluation",
                                 help_text="Stop handing out a pair's items once its outcome is settled by a sequential test")
    dynamic_alpha = forms.FloatField(min_value=0, max_value=0.5, initial=0.05, required=False, label="Dynamic alpha",
                                     help_text="Family-wise error rate over the pairs of each question, above 0 and at most 0.5")
    dynamic_ranking = forms.BooleanField(required=False, label="Dynamic ranking",
                                         help_text="Also stop pairs whose order is known without them (a ranking study)")
    seed = forms.IntegerField(min_value=0, max_value=2**31 - 2, required=False,
                              help_text="Fixes each rater's order of items; blank for a random one")

    samples = forms.CharField(max_length=7, required=False, initial="1",
                              help_text=f"Samples per prompt compared, sample i of one system against sample i of the other (1 to "
                                        f"{MAX_SAMPLES}), or 'matched' / 'items' for every sample the systems have")
    sample_unit = forms.ChoiceField(choices=[("", "default"), ("item", "item"), ("prompt", "prompt")], required=False,
                                    help_text="The report's unit with several samples: each sample's item, or the majority over "
                                              "a prompt's samples (default: item; prompt with 'matched')")

    def clean_samples(self) -> int | str:
        text = self.cleaned_data["samples"].strip() or "1"
        value = int(text) if text.isdigit() else text
        if not samples_valid(value):
            raise forms.ValidationError(f"a number of samples from 1 to {MAX_SAMPLES}, or 'matched' or 'items'")
        return value

    def clean_dynamic_alpha(self) -> float:
        alpha = self.cleaned_data["dynamic_alpha"]
        if alpha is None:
            return 0.05
        if alpha <= 0:
            raise forms.ValidationError("Ensure this value is greater than 0.")
        return alpha

    def clean_qualification(self) -> dict | None:
        text = self.cleaned_data["qualification"].strip()
        if not text:
            return None
        try:
            return input_parse(QualificationSpec, text).model_dump()
        except InputError as exc:
            raise forms.ValidationError(str(exc)) from None

    # Matching before anyone looks (Emu Video, Appendix D); the defaults are the paper's.
    matching_aspect = forms.ChoiceField(choices=[(a, a) for a in ("crop", "pad", "1:1", "16:9", "9:16", "4:3", "3:4")],
                                        initial="crop", required=False, label="Aspect", help_text=POLICY_HELP["aspect"])
    matching_resolution = forms.CharField(max_length=11, required=False, label="Resolution", help_text=POLICY_HELP["resolution"],
                                          widget=forms.TextInput(attrs={"placeholder": "e.g. 512x512"}))
    matching_fps = forms.CharField(max_length=12, required=False, label="Frame rate", help_text=POLICY_HELP["fps"],
                                   widget=forms.TextInput(attrs={"placeholder": "e.g. 8"}))
    matching_duration = forms.ChoiceField(choices=[(d, d) for d in DURATIONS], initial="shortest", required=False, label="Duration",
                                          help_text=POLICY_HELP["duration"])

    def clean_pairs(self) -> list[tuple[str, str]]:
        return _parse_lines(self.cleaned_data["pairs"], PAIR_LINE, "'System A, System B'")

    def _clean_reasons(self, question: str) -> list[dict]:
        lines = _parse_lines(self.cleaned_data.get(f"{question}_reasons", ""), REASON_LINE, "'key: label'")
        return [{"key": k, "label": v} for k, v in lines]

    def clean_quality_reasons(self) -> list[dict]:
        return self._clean_reasons("quality")

    def clean_faithfulness_reasons(self) -> list[dict]:
        return self._clean_reasons("faithfulness")

    def spec(self) -> StudySpec:
        """The valid form as the study to create."""
        data = self.cleaned_data
        return StudySpec(
            name=data["name"], prompt_set=data["prompt_set"].name, pairs=data["pairs"], raters=data["raters_per_item"],
            questions=data["questions"], reasons={q: data[f"{q}_reasons"] for q in QUESTIONS if data[f"{q}_reasons"]},
            allow_tie=data["allow_tie"], lease_seconds=data["lease_seconds"], completion_code=data["completion_code"] or None,
            instructions=data["instructions"], attention_items=data["attention_items"],
            attention_threshold=data["attention_threshold"], consent=data["consent"], qualification=data["qualification"],
            min_watch_ms=data["min_watch_ms"] or 0, completion_url=data["completion_url"], screenout_url=data["screenout_url"],
            signed_links=data["signed_links"], early_stop=data["early_stop"], seed=data["seed"],
            samples=data["samples"], sample_unit=data["sample_unit"] or None,
            dynamic=data["dynamic"], dynamic_alpha=data["dynamic_alpha"], dynamic_ranking=data["dynamic_ranking"],
            matching={key: data[f"matching_{key}"].strip() or None for key in ("aspect", "resolution", "fps", "duration")},
        )
