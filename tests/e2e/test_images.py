"""Real Docker: the bundled images are built with no registry and serve under sandbox rules.

The base image and every template image are built (or found up to date) once per module, then
each image runs as a sandbox would: read-only root, `/tmp` the only writable path, uid 10001,
no capabilities, `no-new-privileges`, the manifest's memory, CPU and PID limits, ports on
loopback only. Never skipped: a missing engine fails the run (scripts/ensure-docker starts it).
Every container and network a test starts carries a per-run label and is removed afterwards.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from orchestrator.images import (
    BASE_IMAGE,
    BASE_KEY_LABEL,
    BuiltImage,
    build_template_images,
    ensure_base_image,
    load_bundled_templates,
)
from orchestrator.manifest import Component, TemplateManifest, parse_cpu, parse_memory

pytestmark = pytest.mark.docker

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "sandbox_templates"
TEMPLATES = load_bundled_templates(TEMPLATES_DIR)
SINGLE = sorted(n for n, (_, m) in TEMPLATES.items() if len(m.spec.components) == 1)
RUN_LABEL = {"innovation-den.io/test-run": uuid.uuid4().hex[:12]}
RESTRICTIONS: dict[str, Any] = {
    "read_only": True,
    "tmpfs": {"/tmp": "rw,size=16m"},
    "user": "10001",
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}

Run = Callable[..., Any]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    try:
        engine = docker.from_env(version="auto")
        engine.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"the Docker engine does not answer ({exc}): run scripts/ensure-docker")
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def built(client: Any) -> list[BuiltImage]:
    ensure_base_image(client, log=print)
    return build_template_images(client, TEMPLATES_DIR, None, log=print)


@pytest.fixture
def run(client: Any, built: list[BuiltImage]) -> Iterator[Run]:
    """Start a component's image as a sandbox would; everything started is removed after."""
    started: list[Any] = []

    def start(
        component: Component,
        *,
        env: dict[str, str] | None = None,
        network: Any = None,
        aliases: tuple[str, ...] = (),
    ) -> Any:
        resources = component.resources
        options: dict[str, Any] = {
            **RESTRICTIONS,
            "detach": True,
            "labels": RUN_LABEL,
            "environment": {**component.env, **(env or {})},
            "mem_limit": parse_memory(resources.memory),
            "nano_cpus": parse_cpu(resources.cpu) * 1_000_000,
            "pids_limit": resources.pids,
            "ports": {f"{p.container_port}/tcp": ("127.0.0.1", None) for p in component.ports if p.expose},
        }
        if network is not None:
            options["network"] = network.name
            options["networking_config"] = {
                network.name: client.api.create_endpoint_config(aliases=list(aliases))
            }
        container = client.containers.run(component.image, **options)
        started.append(container)
        container.reload()
        return container

    yield start
    for container in started:
        container.remove(force=True)
    for network in client.networks.list(filters={"label": _label_filter()}):
        network.remove()


def _label_filter() -> str:
    return "=".join(next(iter(RUN_LABEL.items())))


def _url(container: Any, port: int, path: str) -> str:
    host_port = container.ports[f"{port}/tcp"][0]["HostPort"]
    return f"http://127.0.0.1:{host_port}{path}"


def _fetch(url: str, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait(url: str, status: int = 200, timeout: float = 30.0) -> str:
    """The body once `url` answers with `status`; fails with the last answer seen."""
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            code, body = _fetch(url)
            if code == status:
                return body
            last = f"{code} {body[:200]}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s: {last}")


def _component(template: str, name: str | None = None) -> Component:
    manifest: TemplateManifest = TEMPLATES[template][1]
    return next(c for c in manifest.spec.components if name in (None, c.name))


def test_base_image_runs_python_as_the_den_user(client: Any, built: list[BuiltImage]) -> None:
    image = client.images.get(BASE_IMAGE)
    assert image.labels.get(BASE_KEY_LABEL)
    script = "import html, http.server, json, os, pwd; print(pwd.getpwuid(os.getuid()).pw_name)"
    output = client.containers.run(
        BASE_IMAGE, ["python3", "-c", script], remove=True, labels=RUN_LABEL, **RESTRICTIONS
    )
    assert output.decode().strip() == "den"


def test_every_bundled_component_image_is_built(built: list[BuiltImage]) -> None:
    wanted = {c.image for _, m in TEMPLATES.values() for c in m.spec.components}
    assert {b.tag for b in built} == wanted


@pytest.mark.parametrize("template", SINGLE)
def test_single_component_image_serves_under_sandbox_restrictions(run: Run, template: str) -> None:
    component = _component(template)
    container = run(component)
    port = component.ports[0].container_port
    assert component.readiness_probe is not None
    _wait(_url(container, port, component.readiness_probe.http_get.path))
    status, page = _fetch(_url(container, port, "/"))
    assert status == 200
    assert "<h1>" in page and "synthetic" in page.lower()
    # The workload logs the request after answering it: allow the line a moment to arrive.
    deadline = time.monotonic() + 5
    while b'"GET / HTTP/1.1" 200' not in container.logs(stdout=True, stderr=False):
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.1)


def test_dashboard_data_is_also_served_as_json(run: Run) -> None:
    component = _component("open-data-dashboard")
    container = run(component)
    _wait(_url(container, 8080, "/healthz"))
    data = json.loads(_wait(_url(container, 8080, "/api/data.json")))
    assert data["classification"] == "synthetic"
    assert len(data["items"]) >= 5


def test_enquiry_assistant_uses_its_parameters_and_answers_json(run: Run) -> None:
    component = _component("citizen-enquiry-assistant")
    container = run(component, env={"GREETING": "Welcome to the <Eastmoor> trial", "TONE": "formal"})
    _wait(_url(container, 8080, "/healthz"))
    page = _wait(_url(container, 8080, "/"))
    assert "Welcome to the &lt;Eastmoor&gt; trial" in page
    status, body = _fetch(
        _url(container, 8080, "/api/ask"),
        json.dumps({"question": "When is my recycling collected?"}).encode(),
    )
    reply = json.loads(body)
    assert status == 200 and reply["matched"] == "bins"
    assert reply["answer"].startswith("Thank you for your enquiry.")


def test_case_management_web_reaches_api_by_component_name(client: Any, run: Run) -> None:
    network = client.networks.create(f"den-test-{uuid.uuid4().hex[:8]}", driver="bridge", labels=RUN_LABEL)
    web = run(_component("case-management-prototype", "web"), network=network)
    # Readiness of web must prove it reaches api: not ready while api is missing.
    _wait(_url(web, 8080, "/healthz"), status=503)
    run(_component("case-management-prototype", "api"), network=network, aliases=("api",))
    _wait(_url(web, 8080, "/healthz"))
    page = _wait(_url(web, 8080, "/"))
    assert "CASE-0001" in page and "Damp in ground-floor flat, Block C" in page


def test_a_second_build_rebuilds_nothing(client: Any, built: list[BuiltImage]) -> None:
    lines: list[str] = []
    started = time.monotonic()
    assert ensure_base_image(client, log=lines.append) == client.images.get(BASE_IMAGE).id
    again = build_template_images(client, TEMPLATES_DIR, None, log=lines.append)
    assert not [b.tag for b in again if b.built]
    assert {b.tag: b.image_id for b in again} == {b.tag: b.image_id for b in built}
    assert time.monotonic() - started < 10, lines
