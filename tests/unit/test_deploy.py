"""The deployment files: Kubernetes manifests valid against the schemas, a
compose file that names only what the project defines, a Dockerfile that
builds what `make setup` builds. No container engine runs here, so this is
what can be checked."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from bot import PROJECT_ROOT
from bot.ops.cluster import compose_nginx_config

K8S = PROJECT_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.28.0"
IMAGE = "dry-needling-assistant:1"
# Images the compose file may name besides the project's own.
SERVICE_IMAGES = {"nginx:1.27-bookworm", "postgres:16-bookworm", "redis:7-bookworm"}

# kubernetes-validate on every manifest: seconds, so in `make e2e`.
pytestmark = pytest.mark.slow


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((f"{path.name}:{document['kind']}", document))
    return found


def settings_the_project_reads() -> set[str]:
    """Every upper-case name the project's code quotes (settings, secrets,
    Sanic's and Rasa's own variables it sets)."""
    names = set()
    for path in (PROJECT_ROOT / "bot").rglob("*.py"):
        names |= set(re.findall(r"\"([A-Z][A-Z0-9_]{2,})\"", path.read_text()))
    return names


@pytest.mark.parametrize("name, document", manifests(), ids=[n for n, _ in manifests()])
def test_manifest_is_valid_kubernetes(name, document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_an_invalid_manifest_is_caught():
    """The check above can fail: a misspelt field is refused."""
    _, deployment = next(m for m in manifests() if m[1]["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replica"] = broken["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_deployment_is_probed_and_gets_secrets_from_a_secret():
    deployments = [d for _, d in manifests() if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {"rasa", "actions", "web"}
    known = settings_the_project_reads()
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["image"] == IMAGE
            assert container["readinessProbe"]["httpGet"]["path"] in ("/", "/health")
            assert container["livenessProbe"]["httpGet"]["path"] in ("/", "/health")
            assert container["envFrom"] == [
                {"secretRef": {"name": "dry-needling-assistant"}}
            ]
            for variable in container.get("env", []):
                assert variable["name"] in known, variable
                assert (
                    "TOKEN" not in variable["name"] and "SECRET" not in variable["name"]
                ), "secrets come from the Secret"


def test_autoscalers_ingress_and_services_point_at_what_exists():
    kinds = {}
    for _, document in manifests():
        kinds.setdefault(document["kind"], []).append(document)
    deployments = {d["metadata"]["name"] for d in kinds["Deployment"]}
    services = {s["metadata"]["name"]: s for s in kinds["Service"]}
    assert set(services) == deployments
    for hpa in kinds["HorizontalPodAutoscaler"]:
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        [metric] = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
    [ingress] = kinds["Ingress"]
    assert ingress["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/affinity"
    ] == ("cookie")
    backends = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends["/socket.io"] == "rasa" and backends["/"] == "web"
    assert set(backends.values()) <= set(services)


def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


def test_compose_names_only_the_projects_image_settings_and_files():
    services = compose()["services"]
    known = settings_the_project_reads()
    ours = {n: s for n, s in services.items() if s["image"] == IMAGE}
    assert set(ours) == {"rasa-1", "rasa-2", "actions-1", "actions-2", "web"}
    assert {s["image"] for s in services.values()} <= {IMAGE} | SERVICE_IMAGES
    for name, service in ours.items():
        unknown = set(service["environment"]) - known
        assert not unknown, (name, unknown)
        assert service["command"][:4] == ["python", "-m", "bot", "process"]
        assert service["command"][4] in ("rasa", "actions", "web")
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), source


def test_compose_nginx_is_the_clusters_front():
    path = PROJECT_ROOT / "deploy" / "compose" / "nginx.conf"
    assert path.read_text() == compose_nginx_config(), (
        "regenerate: python -c 'from bot.ops.cluster import compose_nginx_config as c; "
        'print(c(), end="")\' > deploy/compose/nginx.conf'
    )
    assert "proxy_next_upstream error timeout;" in path.read_text()


def test_dockerfile_builds_what_setup_builds_and_runs_unprivileged():
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, re.M)
    assert all("bookworm" in base for base in bases), bases
    assert "pip install -r requirements.txt" in text
    for step in ("bot.nlp.builder", "bot.nlp.embeddings", "rasa train"):
        assert step in text, step
    assert re.search(r"^USER 10001$", text, re.M)
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "models", "var"} <= set(ignored)


def test_deploy_files_have_no_secret_values():
    for path in [PROJECT_ROOT / "docker-compose.yml", *K8S.glob("*.yaml")]:
        text = path.read_text()
        for line in text.splitlines():
            match = re.match(r"\s*-?\s*\{?name: (\w+), value: \"?([^\"}]*)", line)
            if match and ("TOKEN" in match[1] or "SECRET" in match[1]):
                pytest.fail(f"{path.name}: {line.strip()}")
