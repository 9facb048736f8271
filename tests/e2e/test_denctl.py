"""`denctl` end to end: each verb and output format, run as a real process against a real
`den serve` process on the real Docker engine (sandboxes really start, log and stop).

One server serves the module; every test makes its own objects. Requests over 1800 s wait for
an approver (DEN_SELF_SERVICE_MAX_DURATION).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from orchestrator.images import BASE_IMAGE, build_all
from orchestrator.settings import Settings
from tests.e2e.engine import remove_instance
from tests.e2e.server import ROOT, TOKEN, Server

pytestmark = pytest.mark.docker
TEMPLATE = "open-data-dashboard"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    client = docker.from_env()
    client.ping()  # a missing engine fails loudly, never skips
    build_all(ROOT / "sandbox_templates", [TEMPLATE], settings=Settings(), log=lambda _l: None)
    running = Server(
        data_dir=tmp_path_factory.mktemp("denctl"), env={"DEN_SELF_SERVICE_MAX_DURATION": "1800"}
    ).start()
    yield running
    running.stop()
    remove_instance(client, running.instance)
    client.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return tmp_path / "denctl" / "config.yaml"


def denctl(
    server: Server,
    config: Path,
    *args: str,
    token: str | None = TOKEN,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run denctl as a user would: a process with its own environment and exit code."""
    base = {k: v for k, v in os.environ.items() if k not in ("DEN_SERVER", "DEN_TOKEN")}
    base["DENCTL_CONFIG"] = str(config)
    if token is not None:
        base.update({"DEN_SERVER": server.url, "DEN_TOKEN": token})
    return subprocess.run(
        [sys.executable, "-m", "cli.denctl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        input=stdin,
        env={**base, **(env or {})},
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


def person(server: Server, name: str, role: str) -> str:
    """A user of `role` and their token, made through the API as the administrator."""
    server.call("POST", "/api/v1/users", json={"name": name, "role": role})
    answer = server.call("POST", f"/api/v1/users/{name}/tokens", json={})
    return str(answer.json()["token"])


def apply_trial(
    server: Server, config: Path, tmp_path: Path, *, duration: int = 900, token: str = TOKEN
) -> str:
    path = tmp_path / f"trial-{duration}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kind": "Trial",
                "template": TEMPLATE,
                "title": "e2e",
                "hypothesis": "It helps",
                "duration_seconds": duration,
            }
        )
    )
    line = ok(denctl(server, config, "apply", "-f", str(path), token=token)).strip()
    assert line.startswith("trials/t") and line.endswith(
        "created (" + ("PendingApproval)" if duration > 1800 else "Requested)")
    ), line
    trial_id = line.split()[0].removeprefix("trials/")
    server.launched.append(trial_id)
    return trial_id


# --- get, in every output format ----------------------------------------------------------


@pytest.mark.parametrize("resource", ["tmpl", "tr", "suppliers"])
def test_get_lists_each_resource_in_every_output_format(
    server: Server, config: Path, tmp_path: Path, resource: str
) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    kind = {"tmpl": "templates", "tr": "trials", "suppliers": "suppliers"}[resource]
    expected = {"tmpl": TEMPLATE, "tr": trial_id, "suppliers": "civic-insight"}[resource]
    table = ok(denctl(server, config, "get", resource))
    assert table.splitlines()[0].split()[0] == "NAME" and expected in table
    wide = ok(denctl(server, config, "get", resource, "-o", "wide")).splitlines()[0]
    assert len(wide.split("   ")) > len(table.splitlines()[0].split("   "))
    as_json = json.loads(ok(denctl(server, config, "get", resource, "-o", "json")))
    as_yaml = yaml.safe_load(ok(denctl(server, config, "get", resource, "-o", "yaml")))
    key = {"tmpl": "name", "tr": "id", "suppliers": "slug"}[resource]
    assert expected in [i[key] for i in as_json["items"]] == [i[key] for i in as_yaml["items"]]
    names = ok(denctl(server, config, "get", resource, "-o", "name")).splitlines()
    assert f"{kind}/{expected}" in names
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_get_one_object(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    assert json.loads(ok(denctl(server, config, "get", "tr", trial_id, "-o", "json")))["id"] == trial_id
    versions = ok(denctl(server, config, "get", "tmpl", TEMPLATE)).splitlines()
    assert versions[1].split()[:4] == [TEMPLATE, "1.0.0", "civic-insight", "Published"]
    supplier = yaml.safe_load(ok(denctl(server, config, "get", "supplier", "civic-insight", "-o", "yaml")))
    assert supplier["templates"] == [TEMPLATE]
    described = ok(denctl(server, config, "describe", "tmpl", TEMPLATE))
    assert "Supplier:           civic-insight" in described and "Versions:" in described
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_selectors_filter_on_the_server(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    server.wait_for(trial_id, "Ready")
    ready = ok(denctl(server, config, "get", "tr", "-l", "phase=Ready,owner=admin", "-o", "name"))
    assert f"trials/{trial_id}" in ready.splitlines()
    assert ok(denctl(server, config, "get", "tr", "-l", "owner=nobody", "-o", "name")) == ""
    bad = denctl(server, config, "get", "tr", "-l", "colour=red")
    assert bad.returncode == 2 and "bad selector" in bad.stderr
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


# --- the life of a trial ------------------------------------------------------------------


def test_apply_describe_events_logs_delete(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    server.wait_for(trial_id, "Ready")
    described = ok(denctl(server, config, "describe", "tr", trial_id))
    assert "Phase:              Ready" in described
    assert f"web  http://{trial_id}-web.sandbox.localhost:{server.port}/" in described
    assert "Events:" in described and "Started" in described
    events = json.loads(ok(denctl(server, config, "events", trial_id, "-o", "json")))["items"]
    assert [e["phase"] for e in events if e["kind"] == "Transition"] == ["Requested", "Provisioning", "Ready"]
    assert "Ready" in ok(denctl(server, config, "events", trial_id))
    assert yaml.safe_load(ok(denctl(server, config, "events", trial_id, "-o", "yaml")))["items"]
    logs = ok(denctl(server, config, "logs", trial_id))  # one component: no need to name it
    assert "open-data-dashboard listening on 0.0.0.0:8080" in logs
    assert ok(denctl(server, config, "logs", trial_id, "web", "--tail", "1")).count("\n") == 1
    missing = denctl(server, config, "logs", trial_id, "db")
    assert missing.returncode == 4 and "it has web" in missing.stderr
    assert ok(denctl(server, config, "delete", "tr", trial_id)) == f"trials/{trial_id} ending\n"
    assert server.wait_for(trial_id, "Stopped", timeout=60)["reason"] == "UserRequested"


def test_open_prints_a_one_time_address_on_the_sandboxs_own_origin(
    server: Server, config: Path, tmp_path: Path
) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    server.wait_for(trial_id, "Ready")
    address = ok(denctl(server, config, "open", "tr", trial_id)).strip()
    origin = f"http://{trial_id}-web.sandbox.localhost:{server.port}"
    assert address.startswith(f"{origin}/_den/enter?grant=") and address.endswith("&next=/")
    # Two browsers bring it at the same moment over real HTTP: exactly one is let in.
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: server.sandbox_get(address, token=None), range(2)))
    assert sorted(a.status_code for a in answers) == [303, 403]
    entered = next(a for a in answers if a.status_code == 303)
    cookie = entered.headers["set-cookie"].split(";", 1)[0]
    assert cookie.startswith("__Host-den_sandbox=")
    page = server.sandbox_get(origin + "/", token=None, headers={"cookie": cookie})
    assert page.status_code == 200 and "Air quality by borough" in page.text
    named = ok(denctl(server, config, "open", "tr", trial_id, "web")).strip()
    assert named.startswith(f"{origin}/_den/enter?grant=") and named != address
    missing = denctl(server, config, "open", "tr", trial_id, "db")
    assert missing.returncode == 4 and "it exposes web" in missing.stderr
    assert denctl(server, config, "open", "tr", "t000000000000").returncode == 4
    assert denctl(server, config, "open", "tmpl", trial_id).returncode == 2
    approver = person(server, f"approver{trial_id[-4:]}", "approver")
    refused = denctl(server, config, "open", "tr", trial_id, token=approver)
    assert refused.returncode == 5, refused.stderr
    ok(denctl(server, config, "delete", "tr", trial_id))
    ended = denctl(server, config, "open", "tr", trial_id)
    assert ended.returncode == 1 and "NotRunning" in ended.stderr


def test_logs_follow_streams_new_lines(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    ready = server.wait_for(trial_id, "Ready")
    env = {**os.environ, "DEN_SERVER": server.url, "DEN_TOKEN": TOKEN, "DENCTL_CONFIG": str(config)}
    with subprocess.Popen(
        [sys.executable, "-m", "cli.denctl", "logs", trial_id, "-f", "--tail", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    ) as follower:
        try:
            time.sleep(1.5)  # the follower is connected and waiting
            server.sandbox_get(ready["endpoints"]["web"] + "healthz?from=follow-test")
            assert follower.stdout is not None
            line = follower.stdout.readline()
            assert "from=follow-test" in line
        finally:
            follower.terminate()
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_apply_publishes_templates_and_registers_suppliers(
    server: Server, config: Path, tmp_path: Path
) -> None:
    manifest = yaml.safe_load((ROOT / "sandbox_templates" / TEMPLATE / "template.yaml").read_text())
    manifest["metadata"]["version"] = "1.0.1"
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(manifest))
    assert ok(denctl(server, config, "apply", "-f", str(path))) == (
        f"templates/{TEMPLATE}@1.0.1 sent for review\n"
    )
    assert ok(denctl(server, config, "apply", "-f", str(path))) == (f"templates/{TEMPLATE}@1.0.1 unchanged\n")
    supplier = (
        "kind: Supplier\nslug: northwind\nname: Northwind\nsize: sme\n---\n"
        "kind: Supplier\nslug: contoso\nname: Contoso\nsize: large\n"
    )
    assert ok(denctl(server, config, "apply", "-f", "-", stdin=supplier)) == (
        "suppliers/northwind created\nsuppliers/contoso created\n"
    )
    manifest["spec"]["dataClassification"] = "personal"
    manifest["metadata"]["version"] = "1.0.2"
    path.write_text(yaml.safe_dump(manifest))
    refused = denctl(server, config, "apply", "-f", str(path))
    assert refused.returncode == 1
    assert "spec.dataClassification" in refused.stderr


def test_a_version_is_reviewed_then_runs_the_image_that_was_reviewed(
    server: Server, config: Path, tmp_path: Path
) -> None:
    """Publishing pins each image to the engine's image id: moving the tag afterwards changes
    nothing for the version's trials."""
    engine = docker.from_env()
    reviewed = engine.images.get(f"innovation-den/{TEMPLATE}:1.0.0")
    tag = "innovation-den/review-pin:1"
    reviewed.tag("innovation-den/review-pin", "1")
    try:
        manifest = yaml.safe_load((ROOT / "sandbox_templates" / TEMPLATE / "template.yaml").read_text())
        manifest["metadata"]["version"] = "3.0.0"
        manifest["spec"]["components"][0]["image"] = tag
        path = tmp_path / "template.yaml"
        path.write_text(yaml.safe_dump(manifest))
        ref = f"{TEMPLATE}@3.0.0"
        assert ok(denctl(server, config, "apply", "-f", str(path))) == (f"templates/{ref} sent for review\n")
        review = ok(denctl(server, config, "describe", "tmpl", ref))
        assert "PendingReview" in review and "Compared with:      1.0.0" in review
        assert f"innovation-den/{TEMPLATE}:1.0.0" in review and tag in review
        assert "Needs review:" in review
        refused = denctl(server, config, "approve", "tmpl", TEMPLATE)
        assert refused.returncode == 2 and f"{TEMPLATE}@VERSION" in refused.stderr
        approved = ok(denctl(server, config, "approve", "tmpl", ref, "--reason", "Fine"))
        assert approved == f"templates/{ref} published (pinned: web={reviewed.id})\n"
        # The tag now names another image; the reviewed version still runs the reviewed one.
        engine.images.get(BASE_IMAGE).tag("innovation-den/review-pin", "1")
        trial = server.launch(ref)
        server.wait_for(trial["id"], "Ready")
        containers = engine.containers.list(filters={"label": f"innovation-den.io/trial-id={trial['id']}"})
        assert [c.attrs["Image"] for c in containers] == [reviewed.id]
        server.call("POST", f"/api/v1/trials/{trial['id']}/end")
        rejected = denctl(server, config, "reject", "tmpl", ref, "--reason", "late")
        assert rejected.returncode != 0 and "Quarantined" in rejected.stderr
    finally:
        engine.images.remove(tag, noprune=True)
        engine.close()


def test_extend_then_past_self_service_an_approver_decides(
    server: Server, config: Path, tmp_path: Path
) -> None:
    ann = person(server, "ann", "approver")
    trial_id = apply_trial(server, config, tmp_path, duration=900)
    server.wait_for(trial_id, "Ready")
    extended = ok(denctl(server, config, "extend", "tr", trial_id, "--by", "5m"))
    assert extended.startswith(f"trials/{trial_id} extended: expires at ")
    waiting = ok(denctl(server, config, "extend", "tr", trial_id, "--by", "1h"))
    assert waiting == f"trials/{trial_id} extension by 60m waits for an approver\n"
    own = denctl(server, config, "approve", "tr", trial_id)  # admin asked: admin cannot decide
    assert own.returncode == 5 and "SelfApproval" in own.stderr
    assert ok(denctl(server, config, "approve", "tr", trial_id, token=ann)) == (
        f"trials/{trial_id} approved\n"
    )
    assert server.trial(trial_id)["duration_seconds"] == 900 + 300 + 3600
    refused = denctl(server, config, "extend", "tr", trial_id, "--by", "1m")
    assert refused.returncode == 1 and "MaxExtensionsReached" in refused.stderr
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_a_long_request_is_rejected_with_a_reason(server: Server, config: Path, tmp_path: Path) -> None:
    pat = person(server, "pat", "approver")
    trial_id = apply_trial(server, config, tmp_path, duration=3600)
    assert (
        ok(denctl(server, config, "reject", "tr", trial_id, "--reason", "Pilot first", token=pat))
        == f"trials/{trial_id} rejected\n"
    )
    stopped = server.wait_for(trial_id, "Stopped", timeout=30)
    assert (stopped["reason"], stopped["message"]) == ("Rejected", "Rejected by pat: Pilot first")


def test_watch_streams_changes_until_stopped(server: Server, config: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DEN_SERVER": server.url, "DEN_TOKEN": TOKEN, "DENCTL_CONFIG": str(config)}
    with subprocess.Popen(
        [sys.executable, "-m", "cli.denctl", "get", "tr", "-w", "-o", "json", "-l", f"template={TEMPLATE}"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    ) as watcher:
        try:
            trial_id = apply_trial(server, config, tmp_path)
            phases: list[str] = []
            assert watcher.stdout is not None
            while "Ready" not in phases:
                seen: dict[str, Any] = json.loads(watcher.stdout.readline())
                if seen["id"] == trial_id:
                    phases.append(seen["phase"])
            assert phases[0] in ("Requested", "Provisioning") and phases[-1] == "Ready"
        finally:
            watcher.terminate()
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


# --- contexts, exit codes, help, completion ------------------------------------------------


def test_contexts_live_in_a_private_config_file(server: Server, config: Path) -> None:
    ok(
        denctl(
            server,
            config,
            "config",
            "set-context",
            "local",
            "--server",
            server.url,
            "--token",
            TOKEN,
            token=None,
        )
    )
    ok(
        denctl(
            server, config, "config", "set-context", "elsewhere", "--server", "http://127.0.0.1:9", token=None
        )
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert ok(denctl(server, config, "config", "current-context", token=None)) == "local\n"
    listing = ok(denctl(server, config, "config", "get-contexts", token=None)).splitlines()
    assert listing[1].split() == ["*", "local", server.url]
    assert TEMPLATE in ok(denctl(server, config, "get", "tmpl", token=None))  # via the context
    ok(denctl(server, config, "config", "use-context", "elsewhere", token=None))
    assert denctl(server, config, "get", "tmpl", token=None).returncode == 3
    assert TEMPLATE in ok(denctl(server, config, "get", "tmpl", "--context", "local", token=None))
    unknown = denctl(server, config, "get", "tmpl", "--context", "nope", token=None)
    assert unknown.returncode == 2 and "no context 'nope'" in unknown.stderr


def test_exit_codes_tell_what_went_wrong(server: Server, config: Path) -> None:
    assert denctl(server, config, "get", "tr", "t000000000000").returncode == 4
    assert denctl(server, config, "get", "tr", token="wrong").returncode == 5
    assert denctl(server, config, "get", "widgets").returncode == 2
    assert denctl(server, config, "get", "tr", "-o", "xml").returncode == 2
    unreachable = denctl(server, config, "get", "tr", env={"DEN_SERVER": "http://127.0.0.1:9"})
    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr
    refused = denctl(server, config, "extend", "tr", "t000000000000", "--by", "1m")
    assert refused.returncode == 4


VERBS = [
    ["get"],
    ["describe"],
    ["apply"],
    ["delete"],
    ["extend"],
    ["approve"],
    ["reject"],
    ["logs"],
    ["events"],
    ["config", "set-context"],
    ["config", "use-context"],
    ["config", "get-contexts"],
    ["config", "current-context"],
]


@pytest.mark.parametrize("verb", VERBS, ids=" ".join)
def test_every_verb_has_help_with_an_example(server: Server, config: Path, verb: list[str]) -> None:
    text = ok(denctl(server, config, *verb, "--help"))
    assert "Example" in text and "denctl " + " ".join(verb) in text


def test_shell_completion(server: Server, config: Path) -> None:
    script = ok(denctl(server, config, "--show-completion", "bash"))
    assert "_DENCTL_COMPLETE" in script
    words = ok(
        denctl(
            server,
            config,
            env={"_DENCTL_COMPLETE": "complete_bash", "COMP_WORDS": "denctl get t", "COMP_CWORD": "2"},
        )
    )
    assert {"templates", "tmpl", "trials", "tr"} <= set(words.split())
