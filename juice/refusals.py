"""What a service may refuse, by kind: the bases of the domain errors services raise.

A service says why in its message, for the person who asked; it knows nothing of HTTP. The API layer
answers each kind with its status (juice/http.py, REFUSAL_STATUS), and pages show the message.
"""

from __future__ import annotations


class Refused(Exception):
    """A request a service turns down; the message says why."""


class Invalid(Refused, ValueError):
    """The input breaks a rule: a field out of bounds, an unknown name, a malformed body."""


class Forbidden(Refused):
    """Not the asker's to do: someone else's assignment, an account not invited."""


class NotFound(Refused):
    """No such object."""


class Conflict(Refused):
    """The object's state takes no such request now: voted already, closed, not open yet."""


class RateLimited(Refused):
    """Too many requests of this kind from one asker; a minute's wait lifts it."""


# How much of a client's own text a refusal repeats: enough to recognise it, never the whole body back.
ECHO_CHARACTERS = 64


def echoed(text: str) -> str:
    """`text` as a refusal repeats it: cut to ECHO_CHARACTERS, with an ellipsis."""
    return text if len(text) <= ECHO_CHARACTERS else text[:ECHO_CHARACTERS] + "…"


ECHO_NAMES = 10


def echoed_names(names: list[str]) -> str:
    """Names as a refusal lists them: each quoted and cut (echoed), the first ECHO_NAMES of them."""
    shown = ", ".join(repr(echoed(name)) for name in names[:ECHO_NAMES])
    return shown if len(names) <= ECHO_NAMES else f"{shown} and {len(names) - ECHO_NAMES} more"
