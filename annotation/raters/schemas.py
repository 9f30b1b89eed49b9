"""What the researchers' API answers about who may join a study: invited accounts, crowd workers' join links."""

from __future__ import annotations

from pydantic import BaseModel


class InvitationsOut(BaseModel):
    """The accounts now invited, and the passwords of the accounts just made (with `create`)."""

    invited: list[str]
    created: dict[str, str]


class LinksOut(BaseModel):
    """Each worker's join link, carrying `sig` when the study wants signed links."""

    signed: bool
    links: dict[str, str]
