"""`denctl` end to end: each verb and output format, run as a real process against a real
`den serve` process on the real Docker engine (sandboxes really start, log and stop).

One server serves the module; every test makes its own objects. Requests over 1800 s wait for
an approver (DEN_SELF_SERVICE_MAX_DURATION). Ended trials count against the one person's cap
until their sandboxes are gone, which takes longer on a busy machine; the cap here is raised so
that no test waits on the teardown of another's (caps have tests of their own). Servers that are
not a den are real processes too (`python -m http.server`).
"""

from __future__ import annotations

import json
import os
import pty
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml

from orchestrator.images import BASE_IMAGE, build_all
from orchestrator.settings import Settings
from tests.e2e.engine import remove_instance
from tests.e2e.server import ROOT, TOKEN, Server, free_port

pytestmark = pytest.mark.docker
TEMPLATE = "open-data-dashboard"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    client = docker.from_env()
    client.ping()  # a missing engine fails loudly, never skips
    build_all(ROOT / "sandbox_templates", [TEMPLATE], settings=Settings(), log=lambda _l: None)
    running = Server(
        data_dir=tmp_path_factory.mktemp("denctl"),
        env={"DEN_SELF_SERVICE_MAX_DURATION": "1800", "DEN_MAX_ACTIVE_TRIALS_PER_USER": "50"},
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
    """A new trial from a file in the flat form of earlier releases, by `create -f` (no name)."""
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
    line = ok(denctl(server, config, "create", "-f", str(path), token=token)).strip()
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
    in_yaml = [i["metadata"]["id"] if resource == "tr" else i[key] for i in as_yaml["items"]]
    assert expected in [i[key] for i in as_json["items"]] == in_yaml
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
        read: list[str] = []

        def knock() -> None:  # until the follower, connected whenever it is, prints the line
            for _ in range(60):
                if read:
                    return
                server.sandbox_get(ready["endpoints"]["web"] + "healthz?from=follow-test")
                time.sleep(0.5)

        try:
            time.sleep(1.5)  # the follower is connected and waiting
            with ThreadPoolExecutor(1) as pool:
                pool.submit(knock)
                assert follower.stdout is not None
                read.append(follower.stdout.readline())
            assert "from=follow-test" in read[0]
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
            server,
            config,
            "config",
            "set-context",
            "elsewhere",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "t",
            token=None,
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
    ["create"],
    ["wait"],
    ["open"],
    ["explain"],
    ["api-resources"],
    ["version"],
    ["approve"],
    ["reject"],
    ["logs"],
    ["events"],
    ["members"],
    ["publish"],
    ["close"],
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
    # Typer's own switch so that `--show-completion bash` names the shell, rather than
    # guessing it from the processes above this one (which, under a CI runner, may be none).
    shell = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    script = ok(denctl(server, config, "--show-completion", "bash", env=shell))
    assert "_DENCTL_COMPLETE" in script
    words = ok(
        denctl(
            server,
            config,
            env={"_DENCTL_COMPLETE": "complete_bash", "COMP_WORDS": "denctl get t", "COMP_CWORD": "2"},
        )
    )
    assert {"templates", "tmpl", "trials", "tr"} <= set(words.split())


# --- kubectl's habits ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def not_a_den(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real HTTP server that is not a den (`python -m http.server`), and its request log."""
    port = free_port()
    root = tmp_path_factory.mktemp("plain-http")
    log = root / "requests.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, log
    finally:
        process.terminate()
        process.wait(timeout=10)


def trial_file(tmp_path: Path, name: str | None, **spec: Any) -> Path:
    document: dict[str, Any] = {
        "apiVersion": "innovation-den.io/v1",
        "kind": "Trial",
        "metadata": {"name": name} if name else {},
        "spec": {
            "template": TEMPLATE,
            "title": "e2e named",
            "hypothesis": "It helps",
            "duration": "15m",
            **spec,
        },
    }
    path = tmp_path / f"trial-{name or 'unnamed'}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def post_trial(server: Server, **extra: Any) -> httpx.Response:
    body = {"template": TEMPLATE, "title": "e2e", "hypothesis": "It helps", "duration_seconds": 600}
    return server.call("POST", "/api/v1/trials", json={**body, **extra})


def named_trials(server: Server, name: str) -> list[dict[str, Any]]:
    return list(server.call("GET", "/api/v1/trials", params={"name": name}).json()["items"])


def test_global_flags_go_before_or_after_the_verb(server: Server, config: Path) -> None:
    flags = ["--server", server.url, "--token", TOKEN]
    before = ok(denctl(server, config, *flags, "get", "tmpl", "-o", "name", token=None))
    after = ok(denctl(server, config, "get", "tmpl", "-o", "name", *flags, token=None))
    assert f"templates/{TEMPLATE}" in before.splitlines() and before == after
    assert ok(denctl(server, config, *flags, "-o", "name", "get", "tmpl", token=None)) == before
    # The verb's own flag wins over the one before it.
    wrong = ["--server", "http://127.0.0.1:9", "--token", TOKEN]
    assert ok(denctl(server, config, *wrong, "get", "tmpl", "-o", "name", "--server", server.url, token=None))
    ok(
        denctl(
            server,
            config,
            "config",
            "set-context",
            "here",
            "--server",
            server.url,
            "--token",
            TOKEN,
            token=None,
        )
    )
    ok(
        denctl(
            server,
            config,
            "config",
            "set-context",
            "away",
            "--server",
            "http://127.0.0.1:9",
            "--use",
            token=None,
        )
    )
    assert TEMPLATE in ok(denctl(server, config, "--context", "here", "get", "tmpl", token=None))


def test_names_are_type_slash_name_and_o_name_feeds_back(
    server: Server, config: Path, tmp_path: Path
) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    ref = ok(denctl(server, config, "get", "trials", trial_id, "-o", "name")).strip()
    assert ref == f"trials/{trial_id}"
    assert json.loads(ok(denctl(server, config, "get", ref, "-o", "json")))["id"] == trial_id
    assert f"Id:                 {trial_id}" in ok(denctl(server, config, "describe", ref))
    assert f"Id:                 {trial_id}" in ok(denctl(server, config, "describe", f"tr/{trial_id}"))
    ok(denctl(server, config, "wait", "--for=phase=Ready", f"tr/{trial_id}", "--timeout", "60s"))
    assert ok(denctl(server, config, "extend", f"tr/{trial_id}", "--by", "1m")).startswith(f"{ref} extended")
    assert denctl(server, config, "events", ref).returncode == 0
    mixed = denctl(server, config, "delete", ref, "tmpl/x")
    assert mixed.returncode == 2
    assert ok(denctl(server, config, "delete", ref)) == f"{ref} ending\n"
    server.wait_for(trial_id, "Stopped", timeout=60)


def test_trial_names_on_the_api(server: Server) -> None:
    bad = post_trial(server, name="Not A Label")
    assert bad.status_code == 422
    assert [p["field"] for p in bad.json()["problems"]] == ["name"] and "DNS label" in bad.text
    first = server.launch(TEMPLATE, name="api-named")
    assert first["name"] == "api-named"
    again = post_trial(server, name="api-named")
    assert again.status_code == 409 and again.json()["reason"] == "AlreadyExists"
    assert first["id"] in again.json()["detail"]
    assert [t["id"] for t in named_trials(server, "api-named")] == [first["id"]]
    server.call("POST", f"/api/v1/trials/{first['id']}/end")


def test_apply_is_idempotent_for_named_trials_and_create_makes_new_ones(
    server: Server, config: Path, tmp_path: Path
) -> None:
    path = trial_file(tmp_path, "idem-pilot")
    created = ok(denctl(server, config, "apply", "-f", str(path))).strip()
    trial_id = created.split()[0].removeprefix("trials/")
    server.launched.append(trial_id)
    assert created == f"trials/{trial_id} created (Requested)"
    assert ok(denctl(server, config, "apply", "-f", str(path))) == f"trials/{trial_id} unchanged\n"
    assert ok(denctl(server, config, "apply", "-f", str(path), "-o", "name")) == f"trials/{trial_id}\n"
    assert len(named_trials(server, "idem-pilot")) == 1  # nothing else was started
    changed = trial_file(tmp_path, "idem-pilot", title="Another title", duration="1h")
    refused = denctl(server, config, "apply", "-f", str(changed))
    assert refused.returncode == 1
    assert "spec.title, spec.duration" in refused.stderr and "cannot change" in refused.stderr
    taken = denctl(server, config, "create", "-f", str(path))
    assert taken.returncode == 1 and "AlreadyExists" in taken.stderr and trial_id in taken.stderr
    unnamed = trial_file(tmp_path, None)
    no_name = denctl(server, config, "apply", "-f", str(unnamed))
    assert no_name.returncode == 2 and "metadata.name" in no_name.stderr and "create" in no_name.stderr
    made = {ok(denctl(server, config, "create", "-f", str(unnamed))).split()[0] for _ in range(2)}
    assert len(made) == 2
    for ref in (*made, f"trials/{trial_id}"):
        server.launched.append(ref.removeprefix("trials/"))
        ok(denctl(server, config, "delete", ref))
    # Found by its name as well as its id.
    assert json.loads(ok(denctl(server, config, "get", "tr/idem-pilot", "-o", "json")))["id"] == trial_id


def test_o_yaml_applies_back_unchanged(server: Server, config: Path, tmp_path: Path) -> None:
    path = trial_file(tmp_path, "round-trip", successCriteria=["Fast"], sharedWithDepartment=True)
    trial_id = ok(denctl(server, config, "apply", "-f", str(path))).split()[0].removeprefix("trials/")
    server.launched.append(trial_id)
    printed = ok(denctl(server, config, "get", f"trials/{trial_id}", "-o", "yaml"))
    document = yaml.safe_load(printed)
    assert (document["apiVersion"], document["kind"]) == ("innovation-den.io/v1", "Trial")
    assert document["metadata"]["name"] == "round-trip" and document["spec"]["duration"] == "15m"
    assert "phase" in document["status"]
    saved = tmp_path / "printed.yaml"
    saved.write_text(printed)
    assert ok(denctl(server, config, "apply", "-f", str(saved))) == f"trials/{trial_id} unchanged\n"
    # An unnamed trial's document is found again by its metadata.id.
    other = apply_trial(server, config, tmp_path)
    saved.write_text(ok(denctl(server, config, "get", "tr", other, "-o", "yaml")))
    assert ok(denctl(server, config, "apply", "-f", str(saved))) == f"trials/{other} unchanged\n"
    listed = yaml.safe_load(ok(denctl(server, config, "get", "tr", "-o", "yaml")))
    assert listed["kind"] == "List" and trial_id in [i["metadata"]["id"] for i in listed["items"]]
    for found in (trial_id, other):
        server.call("POST", f"/api/v1/trials/{found}/end")


def test_durations_need_a_unit(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    before = server.trial(trial_id)["duration_seconds"]
    bare = denctl(server, config, "extend", "tr", trial_id, "--by", "90")
    assert bare.returncode == 2 and "add a unit: 90s, 90m, 1h30m" in bare.stderr
    assert ok(denctl(server, config, "extend", "tr", trial_id, "--by", "1m30s")).startswith(
        f"trials/{trial_id}"
    )
    assert server.trial(trial_id)["duration_seconds"] == before + 90
    assert denctl(server, config, "wait", "tr", trial_id, "--timeout", "60").returncode == 2
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_no_token_a_wrong_server_and_a_server_that_is_not_a_den(
    server: Server, config: Path, not_a_den: tuple[str, Path]
) -> None:
    plain, log = not_a_den
    before = log.read_text()
    unsigned = denctl(server, config, "get", "tr", token=None, env={"DEN_SERVER": plain})
    assert unsigned.returncode == 5
    assert "not signed in: set DEN_TOKEN or --token, or `denctl config set-context`" in unsigned.stderr
    assert log.read_text() == before  # nothing was sent, not even an empty Bearer header
    away = denctl(server, config, "get", "tr", env={"DEN_SERVER": "http://127.0.0.1:9"})
    assert away.returncode == 3 and "cannot reach http://127.0.0.1:9" in away.stderr
    other = denctl(server, config, "get", "tr", env={"DEN_SERVER": plain})
    assert other.returncode == 3, other.stderr
    assert f"{plain} answered HTTP 404 (text/html)" in other.stderr and "HTTPError" not in other.stderr
    assert "not as an Innovation Den API does" in other.stderr
    assert denctl(server, config, "version", env={"DEN_SERVER": plain}).returncode == 3


def test_delete_all_asks_first(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    only = ["-l", "owner=admin"]
    refused = denctl(server, config, "delete", "tr", "--all", *only, stdin="")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert server.trial(trial_id)["end_requested_at"] is None
    primary, secondary = pty.openpty()
    env = {**os.environ, "DEN_SERVER": server.url, "DEN_TOKEN": TOKEN, "DENCTL_CONFIG": str(config)}
    try:
        os.write(primary, b"n\n")
        answered = subprocess.run(
            [sys.executable, "-m", "cli.denctl", "delete", "tr", "--all", *only],
            stdin=secondary,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
        )
    finally:
        os.close(primary)
        os.close(secondary)
    assert answered.returncode == 1 and f"trials/{trial_id}" in answered.stderr, answered.stderr
    assert server.trial(trial_id)["end_requested_at"] is None
    dry = ok(denctl(server, config, "delete", "tr", "--all", *only, "--dry-run"))
    assert f"trials/{trial_id} ending (dry run)" in dry
    assert server.trial(trial_id)["end_requested_at"] is None
    assert f"trials/{trial_id} ending" in ok(denctl(server, config, "delete", "tr", "--all", "-y", *only))
    assert server.wait_for(trial_id, "Stopped", timeout=60)["reason"] == "UserRequested"


def test_jsonpath_custom_columns_sort_and_field_selectors(
    server: Server, config: Path, tmp_path: Path
) -> None:
    first = apply_trial(server, config, tmp_path, duration=1200)
    second = apply_trial(server, config, tmp_path, duration=900)
    ids = ok(denctl(server, config, "get", "tr", "-o", "jsonpath={.items[*].id}")).split()
    assert {first, second} <= set(ids)
    assert (
        ok(denctl(server, config, "get", "tr", first, "-o", "jsonpath={.template}"))
        == server.trial(first)["template"] + "\n"
    )
    table = ok(denctl(server, config, "get", "tr", "-o", "custom-columns=ID:.id,PHASE:.phase,NAME:.name"))
    lines = table.splitlines()
    assert lines[0].split() == ["ID", "PHASE", "NAME"]
    assert any(line.split()[0] == first and line.split()[2] == "<none>" for line in lines[1:])
    running = ["--field-selector", "phase!=Stopped", "--sort-by", ".expires_at", "-o", "name"]
    ordered = ok(denctl(server, config, "get", "tr", *running)).splitlines()
    assert ordered.index(f"trials/{second}") < ordered.index(f"trials/{first}")  # sooner first
    ok(denctl(server, config, "delete", "tr", first))
    server.wait_for(first, "Stopped", timeout=60)
    remaining = ok(denctl(server, config, "get", "tr", *running)).splitlines()
    assert f"trials/{first}" not in remaining and f"trials/{second}" in remaining
    stopped = ok(
        denctl(
            server,
            config,
            "get",
            "tr",
            "--field-selector",
            f"phase=Stopped,template={TEMPLATE}",
            "-o",
            "name",
        )
    )
    assert f"trials/{first}" in stopped.splitlines() and f"trials/{second}" not in stopped.splitlines()
    for bad in (
        ["--field-selector", "colour=red"],
        ["-o", "custom-columns=ID"],
        ["-o", "jsonpath={.items[}"],
    ):
        assert denctl(server, config, "get", "tr", *bad).returncode == 2
    server.call("POST", f"/api/v1/trials/{second}/end")


def test_wait_for_a_phase_and_time_out_naming_it(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    met = ok(denctl(server, config, "wait", "--for=phase=Ready", f"tr/{trial_id}", "--timeout", "60s"))
    assert met == f"trials/{trial_id} condition met (phase=Ready)\n"
    late = denctl(server, config, "wait", "--for=phase=Stopped", f"tr/{trial_id}", "--timeout", "2s")
    assert late.returncode == 1 and "phase is Ready, not Stopped" in late.stderr
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_dry_run_changes_nothing(server: Server, config: Path, tmp_path: Path) -> None:
    path = trial_file(tmp_path, "dry-pilot")
    assert (
        ok(denctl(server, config, "apply", "-f", str(path), "--dry-run"))
        == "trials/dry-pilot created (dry run)\n"
    )
    assert ok(denctl(server, config, "create", "-f", str(path), "--dry-run")).endswith("(dry run)\n")
    assert named_trials(server, "dry-pilot") == []
    missing = trial_file(tmp_path, "dry-missing", template="no-such-template")
    assert denctl(server, config, "apply", "-f", str(missing), "--dry-run").returncode == 4
    trial_id = apply_trial(server, config, tmp_path)
    before = server.trial(trial_id)
    extended = ok(denctl(server, config, "extend", "tr", trial_id, "--by", "10m", "--dry-run"))
    assert extended.startswith(f"trials/{trial_id} extended by 10m (dry run")
    assert (
        ok(denctl(server, config, "delete", "tr", trial_id, "--dry-run"))
        == f"trials/{trial_id} ending (dry run)\n"
    )
    after = server.trial(trial_id)
    assert (after["duration_seconds"], after["end_requested_at"]) == (before["duration_seconds"], None)
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_explain_api_resources_and_version(server: Server, config: Path) -> None:
    explained = ok(denctl(server, config, "explain", "trials.spec.duration", token=None))
    assert "FIELD:    duration <duration>" in explained and "30m" in explained
    assert "metadata" in ok(denctl(server, config, "explain", "trials", token=None))
    assert denctl(server, config, "explain", "trials.spec.colour", token=None).returncode == 2
    resources = ok(denctl(server, config, "api-resources", token=None)).splitlines()
    assert resources[0].split() == ["NAME", "SHORTNAMES", "KIND"]
    assert ["trials", "tr,trial", "Trial"] in [line.split() for line in resources]
    version = ok(denctl(server, config, "version", token=None, env={"DEN_SERVER": server.url}))
    served = server.call("GET", "/openapi.json").json()["info"]["version"]
    assert version.splitlines() == [f"Client Version: {served}", f"Server Version: {served}"]


def test_completion_of_ids_and_output_formats(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)

    def complete(words: str) -> set[str]:
        cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        env = {"_DENCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
        return set(ok(denctl(server, config, env=env)).split())

    assert trial_id in complete("denctl describe tr ")
    assert f"trials/{trial_id}" in complete("denctl get trials/")
    assert {"yaml", "jsonpath=", "custom-columns="} <= complete("denctl get tr -o ")
    server.call("POST", f"/api/v1/trials/{trial_id}/end")


def test_describe_reads_cleanly(server: Server, config: Path, tmp_path: Path) -> None:
    trial_id = apply_trial(server, config, tmp_path)
    described = ok(denctl(server, config, "describe", "tr", trial_id))
    assert "Shared with department: No" in described
    assert "Duration:           15m" in described
    for python in ("None", "False", "True", "<none>"):
        assert python not in described, described
    assert " UTC (" in described and "T0" not in described.split("Events:")[0]
    server.call("POST", f"/api/v1/trials/{trial_id}/end")
