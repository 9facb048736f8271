"""Who a provider's account becomes here (pure rules of orchestrator/crud/sign_in.py) and how
long a new API token lasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.crud.sign_in import NoRole, identity, role_for_groups
from orchestrator.crud.users import token_expiry
from orchestrator.errors import ValidationFailed
from orchestrator.settings import GroupMapping

MAPPING = {
    "hmrc-staff": GroupMapping(role="civil_servant", department="HMRC"),
    "dvla-staff": GroupMapping(role="civil_servant", department="DVLA"),
    "den-ops": GroupMapping(role="platform_engineer"),
    "brightdata": GroupMapping(role="supplier", supplier="brightdata"),
}
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_mapped_group_gives_its_role_and_department() -> None:
    assert role_for_groups(["hmrc-staff"], MAPPING) == MAPPING["hmrc-staff"]


def test_the_strongest_role_wins_and_keeps_a_department_of_its_own_groups() -> None:
    given = role_for_groups(["hmrc-staff", "den-ops"], MAPPING)
    assert given == GroupMapping(role="platform_engineer", department="")
    assert role_for_groups(["brightdata", "dvla-staff"], MAPPING) == MAPPING["dvla-staff"]


def test_group_paths_match_on_their_last_part_and_role_names_are_groups() -> None:
    assert role_for_groups(["/org/hmrc-staff"], MAPPING) == MAPPING["hmrc-staff"]
    assert role_for_groups(["approver"], {}) == GroupMapping(role="approver")


def test_unmapped_groups_give_nothing() -> None:
    assert role_for_groups(["everyone", "/org/unknown"], MAPPING) is None
    assert role_for_groups([], MAPPING) is None


CLAIMS = {
    "iss": "https://id.example",
    "sub": "42",
    "preferred_username": "Alice.Smith",
    "email": "alice@hmrc.example",
    "groups": ["hmrc-staff"],
}


def test_identity_lower_cases_the_name_and_binds_issuer_and_subject() -> None:
    person = identity(CLAIMS, username_claim="preferred_username", groups_claim="groups")
    assert (person.name, person.subject, person.groups) == (
        "alice.smith",
        "https://id.example 42",
        ("hmrc-staff",),
    )


@pytest.mark.parametrize("value", [None, "", "Alice Smith", "a/b", 7, "x" * 101])
def test_a_username_the_den_cannot_use_is_refused_with_a_reason(value: object) -> None:
    with pytest.raises(NoRole, match="preferred_username"):
        identity(
            {**CLAIMS, "preferred_username": value},
            username_claim="preferred_username",
            groups_claim="groups",
        )


def test_a_single_group_string_and_an_absent_claim_are_understood() -> None:
    assert identity(
        {**CLAIMS, "groups": "den-ops"}, username_claim="email", groups_claim="groups"
    ).groups == ("den-ops",)
    assert identity(CLAIMS, username_claim="email", groups_claim="").groups == ()


def test_a_token_with_no_expiry_gets_the_longest_lifetime() -> None:
    assert token_expiry(
        now=NOW, ttl=None, max_lifetime=timedelta(days=90), parent_expires_at=None
    ) == NOW + timedelta(days=90)


def test_a_token_longer_than_the_limit_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        token_expiry(now=NOW, ttl=timedelta(days=91), max_lifetime=timedelta(days=90), parent_expires_at=None)
    assert refused.value.problems[0].field == "expires_in_seconds"


def test_a_token_never_outlives_the_token_that_makes_it() -> None:
    parent = NOW + timedelta(hours=1)
    assert (
        token_expiry(now=NOW, ttl=None, max_lifetime=timedelta(days=90), parent_expires_at=parent) == parent
    )
    with pytest.raises(ValidationFailed, match="outlive"):
        token_expiry(
            now=NOW, ttl=timedelta(hours=2), max_lifetime=timedelta(days=90), parent_expires_at=parent
        )
    assert token_expiry(
        now=NOW, ttl=timedelta(minutes=5), max_lifetime=None, parent_expires_at=parent
    ) == NOW + timedelta(minutes=5)
