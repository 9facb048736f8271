"""The Helm chart with single sign-on, installed for real on the test cluster: the client
secret comes from the chart's Secret, and a person signs in through the real provider's own
login form (Keycloak, tests/e2e/oidc.py) in Chromium, lands on the den in the cluster with the
role their group gives, and signs out.

The provider here is a second instance whose issuer is on the cluster bridge's address, which
both the browser (on this host) and the den's pods reach; the issuer must be one URL for both.
The release runs in `development` with development sign-in off and plain-http cookies, because
the test cluster has no TLS in front of its Service (production refuses both; the chart's
production defaults are checked by test_helm.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.e2e.chart import Release, kubectl
from tests.e2e.cluster import HOST_ADDRESS
from tests.e2e.oidc import ensure_provider, provider, sign_in_through_provider
from tests.e2e.test_web_journeys import chromium

__all__ = ["chromium"]  # the journeys' browser fixture
pytestmark = pytest.mark.kubernetes
CHART_OIDC_PORT = "18081"


@pytest.fixture(scope="module")
def chart_issuer() -> str:
    """A provider for the cluster's pods: its issuer is on the bridge's address."""
    return ensure_provider(
        {
            "DEN_TEST_OIDC_HOST": f"127.0.0.1,{HOST_ADDRESS}",
            "DEN_TEST_OIDC_PORT": CHART_OIDC_PORT,
            "DEN_TEST_OIDC_HOSTNAME": f"http://{HOST_ADDRESS}:{CHART_OIDC_PORT}",
            "DEN_TEST_OIDC_DIR": "/var/lib/innovation-den/keycloak-chart",
        }
    )


def test_install_with_single_sign_on_and_sign_in_through_the_provider(
    chart_issuer: str, chromium: Any
) -> None:
    idp = provider()
    release = Release(
        name="chart-sso",
        namespace="den-chart-" + uuid.uuid4().hex[:6],
        values=["sqlite-try.yaml"],
        sets={
            "environment": "development",
            "settings.DEN_DEV_SIGN_IN": "false",
            "settings.DEN_SESSION_COOKIE_SECURE": "false",
            "oidc.issuer": chart_issuer,
            "oidc.clientId": idp.client_id,
            "oidc.clientSecret": idp.client_secret,
            "oidc.groups.den-civil-servants-hmrc.role": "civil_servant",
            "oidc.groups.den-civil-servants-hmrc.department": "HMRC",
        },
    )
    try:
        release.install()
        secret_ref = _client_secret_ref(release)
        assert secret_ref == {"name": f"{release.fullname}-settings", "key": "oidc-client-secret"}

        den = release.url.removesuffix(":80")  # as the browser writes it
        page = chromium.new_context(viewport={"width": 1024, "height": 768}).new_page()
        page.goto(den + "/sign-in")
        with page.expect_navigation():
            page.click("text=Continue to sign in")
        assert page.url.startswith(chart_issuer), page.url
        sign_in_through_provider(page, "alice", idp.users["alice"].password)
        page.wait_for_load_state("load")
        assert page.url == den + "/", page.url
        assert "Signed in as alice" in page.inner_text("main")
        with release.api() as api:
            users = {u["name"]: u for u in api.get("/api/v1/users").json()["items"]}
        assert (users["alice"]["role"], users["alice"]["department"]) == ("civil_servant", "HMRC")

        with page.expect_navigation(url=f"{den}/signed-out"):
            page.click("button:has-text('Sign out')")
        page.goto(den + "/trials")
        assert "/sign-in" in page.url
        page.close()
    finally:
        release.remove()


def _client_secret_ref(release: Release) -> dict[str, str]:
    """Where the API pod's DEN_OIDC_CLIENT_SECRET comes from (never the ConfigMap)."""
    deployment = json.loads(
        kubectl("get", "deployment", f"{release.fullname}-api", "-n", release.namespace, "-o", "json").stdout
    )
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    found = next(e for e in env if e["name"] == "DEN_OIDC_CLIENT_SECRET")
    ref: dict[str, str] = found["valueFrom"]["secretKeyRef"]
    return ref
