"""Who may do what: one pure table (ACC-1, ACC-2, ACC-3, ACC-4, ACC-7, ACC-8, ACC-11).

No I/O here: :func:`decide` takes the actor and the facts about the target and returns a
:class:`Decision` with the reason, which the caller audits and returns as a 403 when
refused. The catalog turns a :class:`Scope` into a query filter for searches.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from vms.db.models import Role


class Action(enum.StrEnum):
    MEDIA_UPLOAD = "media.upload"
    MEDIA_SEARCH = "media.search"  # metadata only
    MEDIA_VIEW = "media.view"  # content: play, download
    MEDIA_EDIT = "media.edit"  # title, categories, case number
    MEDIA_RESTRICT = "media.restrict"  # set or clear the restricted flag (ACC-7)
    # Set or clear the critical-incident flag (ACC-2: death or serious bodily injury).
    MEDIA_CRITICAL = "media.critical_incident"
    # Record the written approval of an officer's own review of a critical item (ACC-2).
    REVIEW_APPROVE = "review.approve"
    # Grant an officer under investigation review of the items capturing them (ACC-3).
    REVIEW_GRANT = "review.grant"
    REVIEW_GRANTS_READ = "review.grants.read"
    AUDIT_READ = "audit.read"
    USERS_MANAGE = "users.manage"
    LIVE_VIEW = "live.view"
    PTZ_CONTROL = "ptz.control"
    CAMERAS_MANAGE = "cameras.manage"
    # Issue body-worn/dash/handheld devices to officers (issue #10.1).
    DEVICES_MANAGE = "devices.manage"
    # Retention (issue 6): log preservation requests (RET-3); apply or release legal
    # holds and open or close cases (the data steward, RET-10); read the request log,
    # destruction log, upcoming deletions and tagging reports.
    PRESERVATION_MANAGE = "preservation.manage"
    RETENTION_MANAGE = "retention.manage"
    RETENTION_READ = "retention.read"
    # Case folders and bookmarks (issue 15.3): investigators, records staff and admins
    # file items and bookmarks in cases; the auditors read them (metadata only).
    CASES_MANAGE = "cases.manage"
    CASES_READ = "cases.read"
    # Court exports (issue 15.4, REL-2, ACC-10): investigators, records staff and admins
    # make them (of the items their scope reaches: restricted ones only admins, ACC-7);
    # each reads their own exports, admins and auditors all of them (auditors the
    # metadata only: the package is content).
    EXPORTS_CREATE = "exports.create"
    EXPORTS_READ = "exports.read"
    # Redaction for release (issue 16.3, REL-3, ACC-11): the records unit prepares
    # releases (REL-1), investigators redact for their cases, admins everything; a job
    # shows the item it redacts, so only through the job (audited with the item, ACC-6),
    # never the catalog's playback; restricted items only admins (ACC-7).
    # docs/design/redaction.md, "Who redacts".
    REDACTIONS_MANAGE = "redactions.manage"
    # Supervisor reviews of officer videos (OPS-6, issue 14.3): supervisors record them
    # for the officers they supervise, admins for anyone.
    REVIEWS_RECORD = "reviews.record"
    # Release requests (issue 16.5): records commanders log and manage them (REL-1),
    # release approvers (the chief or designee) and admins approve or deny (ACC-5).
    RELEASES_MANAGE = "releases.manage"
    RELEASES_APPROVE = "releases.approve"
    RELEASES_READ = "releases.read"
    # Alarms on screen (issue 12.3): who watches the cameras sees their alarms (camera
    # offline, video lost, recording gap, disk, mask blanking) and acknowledges them
    # (audited); auditors read the list.
    ALARMS_READ = "alarms.read"
    ALARMS_ACK = "alarms.ack"


class Scope(enum.Enum):
    """Which items an allowed role reaches."""

    NONE = "none"
    OWN = "own"  # items recorded by the actor's own badge (ACC-2)
    SUPERVISED = "supervised"  # own, and the officers the actor supervises (ACC-8)
    NON_RESTRICTED = "non_restricted"  # everything but restricted items (ACC-7)
    ALL = "all"


_R = Role
_S = Scope

# The table. A role missing from an action's row has Scope.NONE.
TABLE: dict[Action, dict[Role, Scope]] = {
    Action.MEDIA_UPLOAD: {
        _R.ADMIN: _S.ALL,
        _R.RECORDS_COMMANDER: _S.ALL,  # scanned preservation forms
        _R.INVESTIGATOR: _S.ALL,
        _R.SUPERVISOR: _S.SUPERVISED,
        _R.OFFICER: _S.OWN,
    },
    # Metadata search. Restricted items are listed to the catalog-wide roles so they
    # know an item exists; its content stays locked (ACC-7).
    Action.MEDIA_SEARCH: {
        _R.ADMIN: _S.ALL,
        _R.RECORDS_COMMANDER: _S.ALL,
        _R.INVESTIGATOR: _S.ALL,
        _R.AUDITOR: _S.ALL,  # metadata, never content
        _R.SUPERVISOR: _S.SUPERVISED,
        _R.OFFICER: _S.OWN,
    },
    Action.MEDIA_VIEW: {
        _R.ADMIN: _S.ALL,
        _R.INVESTIGATOR: _S.NON_RESTRICTED,
        _R.SUPERVISOR: _S.SUPERVISED,
        _R.OFFICER: _S.OWN,
    },
    # ACC-7: only admins mark an item restricted or clear the mark (issue 14.4).
    Action.MEDIA_RESTRICT: {_R.ADMIN: _S.ALL},
    # ACC-2 (issue 14.4): admins, the recording officer's supervisor and investigators
    # mark an item as of a critical incident or clear the mark; never on their own item.
    Action.MEDIA_CRITICAL: {
        _R.ADMIN: _S.ALL,
        _R.INVESTIGATOR: _S.NON_RESTRICTED,
        _R.SUPERVISOR: _S.SUPERVISED,
    },
    # ACC-2: the written approval is recorded by an admin or the officer's supervisor.
    Action.REVIEW_APPROVE: {_R.ADMIN: _S.ALL, _R.SUPERVISOR: _S.SUPERVISED},
    # ACC-3: review grants are made and revoked by admins; auditors read them.
    Action.REVIEW_GRANT: {_R.ADMIN: _S.ALL},
    Action.REVIEW_GRANTS_READ: {_R.ADMIN: _S.ALL, _R.AUDITOR: _S.ALL},
    Action.MEDIA_EDIT: {
        _R.ADMIN: _S.ALL,
        _R.RECORDS_COMMANDER: _S.NON_RESTRICTED,
        _R.INVESTIGATOR: _S.NON_RESTRICTED,
        _R.SUPERVISOR: _S.SUPERVISED,
        _R.OFFICER: _S.OWN,
    },
    Action.AUDIT_READ: {_R.ADMIN: _S.ALL, _R.AUDITOR: _S.ALL},
    Action.USERS_MANAGE: {_R.ADMIN: _S.ALL},
    Action.LIVE_VIEW: {_R.ADMIN: _S.ALL, _R.SUPERVISOR: _S.ALL, _R.DISPATCHER: _S.ALL},
    Action.PTZ_CONTROL: {_R.ADMIN: _S.ALL, _R.SUPERVISOR: _S.ALL, _R.DISPATCHER: _S.ALL},
    Action.CAMERAS_MANAGE: {_R.ADMIN: _S.ALL},
    Action.DEVICES_MANAGE: {_R.ADMIN: _S.ALL},
    Action.PRESERVATION_MANAGE: {_R.ADMIN: _S.ALL, _R.RECORDS_COMMANDER: _S.ALL},
    Action.RETENTION_MANAGE: {_R.ADMIN: _S.ALL, _R.RECORDS_COMMANDER: _S.ALL},
    Action.RETENTION_READ: {
        _R.ADMIN: _S.ALL,
        _R.RECORDS_COMMANDER: _S.ALL,
        _R.INVESTIGATOR: _S.ALL,
        _R.AUDITOR: _S.ALL,
        _R.SUPERVISOR: _S.ALL,
    },
    Action.CASES_MANAGE: {_R.ADMIN: _S.ALL, _R.RECORDS_COMMANDER: _S.ALL, _R.INVESTIGATOR: _S.ALL},
    Action.CASES_READ: {
        _R.ADMIN: _S.ALL,
        _R.RECORDS_COMMANDER: _S.ALL,
        _R.INVESTIGATOR: _S.ALL,
        _R.AUDITOR: _S.ALL,
    },
    # An export is a copy of the content: only who may view the items makes one (issue
    # 15.4, ACC-10); the same reach as MEDIA_VIEW's for these roles. Records commanders
    # do not view media, so they release exports others made (issue 16), never make one.
    Action.EXPORTS_CREATE: {
        _R.ADMIN: _S.ALL,
        _R.INVESTIGATOR: _S.NON_RESTRICTED,
    },
    Action.REDACTIONS_MANAGE: {
        _R.ADMIN: _S.ALL,
        _R.RECORDS_COMMANDER: _S.NON_RESTRICTED,
        _R.INVESTIGATOR: _S.NON_RESTRICTED,
    },
    # ALL: every export; OWN: the exports the actor made (the service filters).
    Action.EXPORTS_READ: {
        _R.ADMIN: _S.ALL,
        _R.AUDITOR: _S.ALL,
        _R.INVESTIGATOR: _S.OWN,
    },
    Action.REVIEWS_RECORD: {_R.ADMIN: _S.ALL, _R.SUPERVISOR: _S.SUPERVISED},
    # A restricted item is put in a release request by administration only (ACC-7).
    Action.RELEASES_MANAGE: {_R.ADMIN: _S.ALL, _R.RECORDS_COMMANDER: _S.NON_RESTRICTED},
    Action.RELEASES_APPROVE: {_R.ADMIN: _S.ALL, _R.RELEASE_APPROVER: _S.ALL},
    Action.RELEASES_READ: {
        _R.ADMIN: _S.ALL,
        _R.RECORDS_COMMANDER: _S.ALL,
        _R.RELEASE_APPROVER: _S.ALL,
        _R.AUDITOR: _S.ALL,
    },
    Action.ALARMS_READ: {
        _R.ADMIN: _S.ALL,
        _R.DISPATCHER: _S.ALL,
        _R.SUPERVISOR: _S.ALL,
        _R.AUDITOR: _S.ALL,
    },
    Action.ALARMS_ACK: {_R.ADMIN: _S.ALL, _R.DISPATCHER: _S.ALL, _R.SUPERVISOR: _S.ALL},
}


@dataclass(frozen=True)
class Actor:
    """A signed-in user as the permission table sees it."""

    user_id: int
    username: str
    role: Role
    badge: str | None = None
    supervised_badges: frozenset[str] = field(default_factory=frozenset)

    @property
    def reachable_badges(self) -> frozenset[str]:
        own = {self.badge} if self.badge else set()
        return frozenset(own) | self.supervised_badges


@dataclass(frozen=True)
class ItemFacts:
    """What the table needs to know about a media item.

    ``critical_incident``: recorded at an incident with death or serious bodily injury
    (ACC-2). ``review_approval``: the id of the written approval in force for the actor's
    own review of it (ACC-2); ``review_grant``: the id of an active grant letting the
    actor review it though it is not theirs (ACC-3). The caller looks both up for the
    actor and the item (``vms.access``); None: there is none."""

    officer_badge: str | None
    restricted: bool
    critical_incident: bool = False
    review_approval: str | None = None
    review_grant: str | None = None
    # ACC-11: flagged privacy-sensitive (a person in a state of undress, 001 3.5.7.2):
    # its content only for the configured roles (``[access] privacy_sensitive_roles``).
    privacy_sensitive: bool = False


# ACC-11: the actions that show an item's content (a view or download, a copy in an
# export, a redaction job's frames); a privacy-sensitive item's are refused to roles
# outside the configured set. Metadata (media.search) stays: the item is known to exist.
PRIVACY_ACTIONS = frozenset({Action.MEDIA_VIEW, Action.EXPORTS_CREATE, Action.REDACTIONS_MANAGE})
# ACC-11 default (docs/design/access-rules.md, "ACC-11"): the system administrator who
# places the protection (001 3.5.7.2, the TMU), investigators (internal investigation,
# 001 3.5.6) and the records unit that redacts for release (REL-3).
DEFAULT_PRIVACY_ROLES = frozenset({Role.ADMIN, Role.INVESTIGATOR, Role.RECORDS_COMMANDER})


def facts_of(item: Any) -> ItemFacts:
    """The facts of a catalog row that need no look-up (badge, restricted, privacy)."""
    return ItemFacts(
        officer_badge=item.officer_badge,
        restricted=item.restricted,
        privacy_sensitive=bool(item.privacy_sensitive),
    )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def scope_of(role: Role, action: Action) -> Scope:
    return TABLE[action].get(role, Scope.NONE)


def decide(
    actor: Actor,
    action: Action,
    item: ItemFacts | None = None,
    *,
    privacy_roles: frozenset[Role] = DEFAULT_PRIVACY_ROLES,
) -> Decision:
    """May ``actor`` do ``action`` (to ``item``)? Always says why. ``privacy_roles``: the
    roles that may see a privacy-sensitive item's content (ACC-11)."""
    decision = _decide(actor, action, item)
    if (
        decision.allowed
        and item is not None
        and item.privacy_sensitive
        and action in PRIVACY_ACTIONS
        and actor.role not in privacy_roles
    ):
        return Decision(
            False,
            "the item is privacy-sensitive: its content is restricted to "
            f"{', '.join(sorted(r.value for r in privacy_roles))} (ACC-11)",
        )
    return decision


def _decide(actor: Actor, action: Action, item: ItemFacts | None) -> Decision:
    """:func:`decide` before the ACC-11 privacy restriction."""
    scope = scope_of(actor.role, action)
    if scope is Scope.NONE:
        return Decision(False, f"role {actor.role.value} may not {action.value} (ACC-1)")
    if item is None:
        return Decision(True, f"role {actor.role.value} may {action.value}")
    if item.restricted and scope is not Scope.ALL and action is not Action.MEDIA_SEARCH:
        return Decision(False, "the item is restricted: only administration may access it (ACC-7)")
    own = actor.badge is not None and item.officer_badge == actor.badge
    if own and action in (Action.MEDIA_CRITICAL, Action.REVIEW_APPROVE):
        return Decision(
            False,
            f"nobody may {action.value} their own recording: it is another's decision (ACC-2)",
        )
    decision = _reach(actor, action, item, scope)
    if action is Action.MEDIA_VIEW and decision.allowed and own and item.critical_incident:
        if item.review_approval is None:
            return Decision(
                False,
                "the item records an incident with death or serious bodily injury: the "
                "officer's own review needs a written approval recorded in the system (ACC-2)",
            )
        return Decision(True, f"own recording, review approval {item.review_approval} (ACC-2)")
    if (
        not decision.allowed
        and item.review_grant is not None
        and action in (Action.MEDIA_VIEW, Action.MEDIA_SEARCH)
    ):
        return Decision(True, f"review grant {item.review_grant} (ACC-3)")
    return decision


def _reach(actor: Actor, action: Action, item: ItemFacts, scope: Scope) -> Decision:
    """The decision of the role's scope alone (after the restricted check)."""
    if scope is Scope.OWN:
        if actor.badge is None or item.officer_badge != actor.badge:
            return Decision(False, "officers may only access their own recordings (ACC-2)")
        return Decision(True, "own recording (ACC-2)")
    if scope is Scope.SUPERVISED:
        if item.officer_badge is None or item.officer_badge not in actor.reachable_badges:
            return Decision(
                False, "supervisors may only access recordings of officers they supervise (ACC-8)"
            )
        return Decision(True, "recording of a supervised officer (ACC-8)")
    return Decision(True, f"role {actor.role.value} may {action.value} ({scope.value})")
