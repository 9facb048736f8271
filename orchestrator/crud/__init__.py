"""The only package that writes rows. Keyword-only functions; time comes in as `now`.

Writes that people make (publishing, asking for a trial, extending, approving, evaluating)
are checked here against the product's rules (`orchestrator.rules`) and who may make them
(`orchestrator.access`), so the API, the web pages and the CLI share one implementation, and
each is recorded as an `AuditEvent` with its actor and source. Observed trial state is written
by `record_transition` / `record_progress` (observed.py), which only the reconciler calls, and
every transition is checked against the lifecycle table.

One module per subject: common (actor, audit, timeline), templates (suppliers and templates),
users (people and tokens), trials (requests, visibility, ending), decisions (extensions and
approvals), evaluations (evaluation and report), observed (the reconciler's writes),
sessions (the web pages' sign-in sessions).
"""

from orchestrator.crud.common import Actor, audit, list_audit, pk, trial_event
from orchestrator.crud.decisions import approve, pending_decisions, reject, request_extension
from orchestrator.crud.evaluations import (
    EvaluationInput,
    ReportFilter,
    get_evaluation,
    put_evaluation,
    report,
)
from orchestrator.crud.observed import (
    count_by_phase,
    live_trial_ids,
    next_expiry,
    record_progress,
    record_transition,
    trials_needing_work,
)
from orchestrator.crud.sessions import end_session, save_session_data, session_user, start_session
from orchestrator.crud.templates import (
    VERSION_STATUSES,
    create_supplier,
    get_supplier,
    latest_versions,
    list_suppliers,
    list_template_versions,
    publish_template,
    resolve_template,
    set_version_status,
    template_versions,
    upsert_supplier,
)
from orchestrator.crud.trials import (
    TrialFilter,
    TrialRequest,
    changed_trials,
    create_trial,
    get_trial,
    list_trials,
    parameter_problems,
    request_end,
    trial_events,
    trial_manifest,
    trials_by_template,
    usage,
    visible_trials_query,
)
from orchestrator.crud.users import (
    NewUser,
    authenticate,
    create_user,
    ensure_user,
    get_user,
    hash_token,
    issue_token,
    list_tokens,
    list_users,
    revoke_token,
)

__all__ = [
    "VERSION_STATUSES", "Actor", "EvaluationInput", "NewUser", "ReportFilter", "TrialFilter",
    "TrialRequest", "approve", "audit", "authenticate", "changed_trials", "count_by_phase",
    "create_supplier", "create_trial", "create_user", "end_session", "ensure_user",
    "get_evaluation", "get_supplier", "get_trial", "get_user", "hash_token", "issue_token",
    "latest_versions", "list_audit", "list_suppliers", "list_template_versions",
    "list_tokens", "list_trials", "list_users",
    "live_trial_ids", "next_expiry", "parameter_problems", "pending_decisions", "pk",
    "publish_template", "put_evaluation", "record_progress", "record_transition", "reject",
    "report", "request_end", "request_extension", "resolve_template", "revoke_token",
    "save_session_data", "session_user", "set_version_status", "start_session", "template_versions",
    "trial_event", "trial_events", "trial_manifest", "trials_by_template", "trials_needing_work",
    "upsert_supplier", "usage", "visible_trials_query",
]
