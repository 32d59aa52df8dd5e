"""deploy/: the compose file and the Kubernetes manifests, checked without a container engine.

Each file is validated against its format's schema (the Compose Specification's, as
check-jsonschema ships it; the Kubernetes API's, as kubernetes-validate ships it), and what
the schemas cannot see is checked here: the settings they give the app load as a valid
configuration, the nodes wait for the schema upgrade, the probes and selectors agree, every
container runs unprivileged on a read-only root.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from monespace import config, server_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests are meant for
APP_SERVICES = ("db-upgrade", "node1", "node2", "worker")
APP_SECRETS = ("database_url", "secret_key", "audit_key")


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def compose_errors(document: dict) -> list[str]:
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads(schema_file.joinpath("compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [error.message for error in validator.iter_errors(document)]


def manifests() -> dict[str, dict]:
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found[path.name] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return found


def resource(kind: str, name: str) -> dict:
    [document] = [
        doc
        for doc in manifests().values()
        if doc["kind"] == kind and doc["metadata"]["name"] == name
    ]
    return document


def pod_spec(document: dict) -> dict:
    return document["spec"]["template"]["spec"]


# -- compose --------------------------------------------------------------------------------------


def test_the_compose_file_follows_the_compose_specification():
    assert compose_errors(compose()) == []


def test_the_schema_check_refuses_a_misspelled_key():
    document = compose()
    document["services"]["node1"]["depends_onn"] = ["postgres"]

    assert any("depends_onn" in message for message in compose_errors(document))


def test_the_compose_topology():
    services = compose()["services"]

    assert set(services) == {"postgres", "redis", "mailpit", "proxy", *APP_SERVICES}
    assert services["db-upgrade"]["command"] == ["monespace", "db", "upgrade"]
    assert services["worker"]["command"] == ["monespace", "worker"]
    for node in ("node1", "node2"):
        assert services[node]["command"][:2] == ["monespace", "serve"]
        # Requests in flight get granian's graceful timeout before the engine kills the node.
        grace = int(services[node]["stop_grace_period"].removesuffix("s"))
        assert grace > server_config.GRACEFUL_TIMEOUT
        # No node starts before the schema is current, nor without Redis for the limits.
        assert services[node]["depends_on"]["db-upgrade"] == {
            "condition": "service_completed_successfully"
        }
        assert services[node]["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert "ports" not in services[node]  # reached through the proxy only
    assert services["db-upgrade"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["proxy"]["depends_on"] == {
        "node1": {"condition": "service_healthy"},
        "node2": {"condition": "service_healthy"},
    }


def test_the_app_services_read_their_secrets_from_files_that_exist():
    document = compose()
    for name in APP_SERVICES:
        service = document["services"][name]
        assert tuple(service["secrets"]) == APP_SECRETS
        assert service["environment"]["MONESPACE_SECRETS_DIR"] == "/run/secrets"
        assert not any("KEY" in variable for variable in service["environment"])
    for secret in document["secrets"].values():
        assert (DEPLOY / secret["file"]).is_file()


def test_the_compose_settings_load_as_the_demo_on_postgresql(tmp_path):
    """What a node container sees (its environment, its secrets under /run/secrets) is a
    valid configuration: every variable a known setting, every secret a setting."""
    service = compose()["services"]["node1"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in service["secrets"]:
        (secrets / name).write_bytes((DEPLOY / "secrets" / name).read_bytes())
    environ = {**service["environment"], "MONESPACE_SECRETS_DIR": str(secrets)}

    settings = config.load(environ={**environ, "MONESPACE_DATA_DIR": str(tmp_path)})

    assert settings.mode == "demo"
    assert settings.database_url.startswith("postgresql://monespace:")
    assert settings.database_url.endswith("@postgres:5432/monespace")
    assert settings.rate_limit_storage == "redis://redis:6379/0"
    assert (settings.smtp_host, settings.smtp_port) == ("mailpit", 1025)
    assert settings.trusted_proxies == 1
    password = (DEPLOY / "secrets" / "postgres_password").read_text(encoding="utf-8").strip()
    assert f":{password}@" in settings.database_url  # the database's and the app's agree


def test_the_proxy_buffers_and_forwards_the_client_to_both_nodes():
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    directives = {
        match.group(1): match.group(2)
        for match in re.finditer(r"^\s*([a-z_]+)\s+([^;{]*);", text, re.MULTILINE)
    }

    assert re.findall(r"server (node\d):8000", text) == ["node1", "node2"]
    assert directives["proxy_request_buffering"] == "on"
    assert directives["proxy_buffering"] == "on"
    assert directives["client_header_timeout"] == "10s"
    assert directives["client_body_timeout"] == "10s"
    assert directives["client_max_body_size"] == "1m"  # max_request_body's default
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in text
    assert "X-Forwarded-Proto $scheme" in text
    assert "non_idempotent" not in directives["proxy_next_upstream"]


# -- Kubernetes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(manifests()))
def test_each_manifest_follows_the_kubernetes_schema(name):
    assert kubernetes_validate.validate(manifests()[name], KUBERNETES_VERSION, strict=True)


def test_the_schema_check_refuses_a_misplaced_field():
    deployment = copy.deepcopy(resource("Deployment", "monespace-web"))
    pod_spec(deployment)["containers"][0]["readinessprobe"] = {}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())

    assert sorted(kustomization["resources"]) == sorted(manifests())


def test_the_nodes_are_probed_and_protected_from_disruption():
    web = resource("Deployment", "monespace-web")
    [container] = pod_spec(web)["containers"]
    labels = web["spec"]["template"]["metadata"]["labels"]

    assert container["command"][:2] == ["monespace", "serve"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["spec"]["replicas"] >= 2
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # Requests in flight get granian's graceful timeout (monespace serve), after the preStop
    # pause.
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    graceful = server_config.GRACEFUL_TIMEOUT
    assert pod_spec(web)["terminationGracePeriodSeconds"] > pause + graceful
    budget = [doc for doc in manifests().values() if doc["kind"] == "PodDisruptionBudget"]
    assert [doc["spec"]["selector"]["matchLabels"] for doc in budget] == [labels]
    assert [doc["spec"]["minAvailable"] for doc in budget] == [1]
    service = [doc for doc in manifests().values() if doc["kind"] == "Service"]
    assert [doc["spec"]["selector"] for doc in service] == [labels]


def test_the_docker_image_runs_the_serve_command_as_compose_and_kubernetes_do():
    """The checks at start, the metrics directory emptied, then granian under its settings."""
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    [command] = [line for line in lines if line.startswith("CMD ")]

    assert json.loads(command.removeprefix("CMD ")) == [
        "monespace",
        "serve",
        "--host",
        "0.0.0.0",  # noqa: S104 (in the container, behind the proxy)
        "--port",
        "8000",
    ]
    assert "gunicorn" not in "\n".join(lines)


def test_the_schema_upgrade_is_a_job_and_the_worker_a_deployment():
    job = [doc for doc in manifests().values() if doc["kind"] == "Job"]
    worker = resource("Deployment", "monespace-worker")

    assert [pod_spec(doc)["containers"][0]["command"] for doc in job] == [
        ["monespace", "db", "upgrade"]
    ]
    assert pod_spec(worker)["containers"][0]["command"] == ["monespace", "worker"]
    probe = pod_spec(worker)["containers"][0]["livenessProbe"]
    assert probe["exec"]["command"] == ["monespace", "worker", "status"]


def test_every_pod_runs_unprivileged_on_a_read_only_root_with_its_secrets_as_files():
    pods = [doc for doc in manifests().values() if doc["kind"] in ("Deployment", "Job")]
    assert len(pods) == 3
    for document in pods:
        spec = pod_spec(document)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == "monespace"
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["resources"]["requests"] and container["resources"]["limits"]
            mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
            assert mounts["/run/secrets/monespace"]["readOnly"] is True
            # What the app writes: its data directory and temporary files, never the image.
            assert {"/var/lib/monespace", "/tmp"} <= set(mounts)
            assert container["envFrom"] == [{"configMapRef": {"name": "monespace"}}]


def test_the_configmap_and_a_secret_load_as_a_production_configuration(tmp_path):
    data = resource("ConfigMap", "monespace")["data"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "database_url").write_text("postgresql://monespace:pw@postgres:5432/monespace\n")
    (secrets / "secret_key").write_text("s" * 48 + "\n")
    (secrets / "audit_key").write_text("a" * 48 + "\n")
    (secrets / "rate_limit_storage").write_text("redis://:pw@redis:6379/0\n")
    environ = {**data, "MONESPACE_SECRETS_DIR": str(secrets), "MONESPACE_DATA_DIR": str(tmp_path)}

    settings = config.load(environ=environ)

    assert settings.mode == "production"
    assert settings.base_url.startswith("https://")
    assert settings.rate_limit_storage == "redis://:pw@redis:6379/0"
    assert settings.trusted_proxies == 1
    assert data["MONESPACE_SECRETS_DIR"] == "/run/secrets/monespace"
