"""The API tokens page: a researcher lists, creates and revokes its own tokens (the key shown once)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from juice.auth import api_token_create, api_token_revoke, api_tokens_of, researcher_required


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="a label to recognise the token by (a script, a machine)")


@researcher_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    key = None
    if request.method == "POST" and form.is_valid():
        key = api_token_create(user=request.user, name=form.cleaned_data["name"])
    return render(request, "juice/api_tokens.html", {"form": form, "key": key, "tokens": api_tokens_of(user=request.user)},
                  status=400 if form.errors else 200)


@require_POST
@researcher_required
def api_token_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    # Another researcher's token is answered as one that does not exist: its existence is not theirs to learn.
    if not api_token_revoke(user=request.user, token_id=pk):
        raise Http404("no such token")
    messages.success(request, "Token revoked; the API refuses it from now on.")
    return redirect("api-tokens")
