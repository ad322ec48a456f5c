"""One-time form keys: a page's form that makes something whose answer cannot be given
again (a share link: its address is shown once and only its hash is stored, REL-1)
carries the id of the row it is to make, issued with the page and signed for the
session and the object the form is on. The service makes the row under that id, so a
second post of the same form (a double-click, a browser's retry) finds it made and makes
nothing (:class:`vms.errors.Conflict`): the row's primary key is the server-side record
that the key was used, written in the same transaction as the row and its audit entry
(ACC-6), with no table of issued keys to keep or purge.

A change that may be made only once (open a case, add an item to it, acknowledge an
alarm, release a legal hold) has no row to make under the id: its key is recorded in the
change's audit entry instead (:func:`vms.repeats.made_under_key`), and the form sent
again is answered with the first answer while another attempt is refused (409).

A key is ``<id>.<signature>``: the HMAC-SHA256, under the app's secret key, of the form's
purpose, the session's stored digest, the object and the id. A key taken to another
session, another object or another form is refused (400), as is one not issued here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from flask import current_app

from vms import ids
from vms.errors import InvalidArgument, PermissionDenied
from web.security import current_credential

FIELD = "form_key"  # the form's hidden field


def _signature(purpose: str, target: str, made_id: str) -> str:
    credential = current_credential()
    if credential is None:  # pages are signed in: require_actor ran first
        raise PermissionDenied("a form key needs a signed-in session")
    message = "\n".join([purpose, credential.kind, credential.digest, target, made_id])
    secret = current_app.secret_key
    key = secret.encode() if isinstance(secret, str) else bytes(secret or b"")
    mac = hmac.new(key, message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def issue(purpose: str, target: str) -> str:
    """A new key for the form ``purpose`` (``"release.share"``) on ``target`` (the
    release's id), for the calling session: a new id and its signature."""
    made_id = ids.new_id()
    return f"{made_id}.{_signature(purpose, target, made_id)}"


def redeem(key: str, purpose: str, target: str) -> str:
    """The id ``key`` carries, once it is checked as issued by :func:`issue` for this
    session, ``purpose`` and ``target``; :class:`InvalidArgument` (400) naming the field
    when it is missing or is not."""
    if not key:
        raise InvalidArgument(
            f"{FIELD} is missing: reload the page and send the form again", field=FIELD
        )
    made_id, _, signature = key.partition(".")
    if not signature or not hmac.compare_digest(
        signature.encode(), _signature(purpose, target, made_id).encode()
    ):
        raise InvalidArgument(
            f"{FIELD} {key[:80]!r} was not issued with this page for this session: reload "
            "the page and send the form again",
            field=FIELD,
        )
    return made_id


def redeem_sent(form: Mapping[str, str], purpose: str, target: str) -> str | None:
    """:func:`redeem` for a form whose key only tells its repeat apart: the id of the
    key ``form`` sent, None when it sent none (a form from before the key: its second
    post is refused as before); a key not issued for it is still a 400."""
    key = form.get(FIELD, "")
    return redeem(key, purpose, target) if key else None
