"""Web sign-in sessions, kept on the server.

The browser holds a random token; only its SHA-256 is stored (like API tokens), with the
person, a CSRF token for the session's forms, an absolute expiry and the data a multi-page
journey collects. Signing out deletes the row, so a copied cookie is worthless afterwards.
Signing in and out are audited like every other write.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, col, select

from orchestrator.crud.common import Actor, audit, pk
from orchestrator.crud.users import hash_token
from orchestrator.models import User, WebSession


def start_session(
    session: Session, *, user: User, now: datetime, ttl: timedelta, source: str = "", method: str = ""
) -> tuple[str, WebSession]:
    """A new session for `user`; returns the cookie value (shown this once) and the row.
    Expired sessions of anyone are removed on the way, so the table stays small."""
    session.connection().execute(delete(WebSession).where(col(WebSession.expires_at) <= now))
    token = secrets.token_urlsafe(32)
    row = WebSession(
        token_hash=hash_token(token),
        user_id=pk(user),
        csrf_token=secrets.token_urlsafe(32),
        source=source[:100],
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    audit(
        session,
        actor=Actor(user=user, source=source),
        action="user.sign_in",
        obj=("user", user.name),
        now=now,
        detail={"method": method},
    )
    return token, row


def session_user(session: Session, *, token: str, now: datetime) -> tuple[WebSession, User] | None:
    """The live session of this cookie value and its person, or None (unknown or expired)."""
    row = session.exec(select(WebSession).where(WebSession.token_hash == hash_token(token))).first()
    if row is None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    return (row, user) if user is not None and user.disabled_at is None else None


def save_session_data(session: Session, *, web_session: WebSession, data: dict[str, Any]) -> None:
    """Replace what the session carries between pages (not audited: nothing is decided yet)."""
    web_session.data = data
    session.add(web_session)


def end_session(session: Session, *, web_session: WebSession, actor: Actor, now: datetime) -> None:
    session.delete(web_session)
    audit(session, actor=actor, action="user.sign_out", obj=("user", actor.name), now=now)
