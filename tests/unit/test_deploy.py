"""deploy/ stays true to the code, checked without Docker or a cluster.

The manifests parse; Kubernetes objects are well formed and reference each other consistently; pods run
as non-root with probes and resource limits; every container runs a command the project really provides
(`gunicorn … app:create_app()`, `yima worker`, `codegen db upgrade`); every environment variable named
in deploy/ is one app/config.py reads; and nothing in deploy/ looks like a real secret. PyYAML comes
with the dev extras.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import secrets
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"

# Local, git-ignored (deploy/.gitignore): they hold the real secrets of a compose deployment.
LOCAL_ONLY = (DEPLOY / ".env", DEPLOY / "secrets")

EXPECTED = [
    "Dockerfile",
    "Dockerfile.dockerignore",
    "README.md",
    "compose.yaml",
    "env.example",
    "k8s/configmap.yaml",
    "k8s/secret.example.yaml",
    "k8s/migrate-job.yaml",
    "k8s/app-deployment.yaml",
    "k8s/app-service.yaml",
    "k8s/worker-deployment.yaml",
    "k8s/hpa.yaml",
    "k8s/pdb.yaml",
]

GUNICORN_CONFIG = "python:app.gunicorn_conf"
WSGI_APP = "app:create_app()"
WORKER = ["yima", "worker"]
MIGRATE = ["codegen", "db", "upgrade"]
# Containers that serve no traffic and have, on purpose, no probes (see worker-deployment.yaml).
NO_PROBES = {"yima-worker"}
# What a production app needs set (the rest have sane defaults).
PRODUCTION_ENV = {"DATABASE_URL", "REDIS_URL", "YIMA_SECRET_KEY", "YIMA_MEMBER_SECRET", "YIMA_OPS_TOKEN",
                  "YIMA_KEYS_FILE", "YIMA_BASE_URL"}
SECRET_ENV = {"DATABASE_URL", "REDIS_URL", "YIMA_SECRET_KEY", "YIMA_MEMBER_SECRET", "YIMA_OPS_TOKEN"}
PLACEHOLDER = "REPLACE_ME"


def _is_local_only(path: Path) -> bool:
    return any(path == p or p in path.parents for p in LOCAL_ONLY)


def _deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and not _is_local_only(p))


def _yaml_files() -> list[Path]:
    return [p for p in _deploy_files() if p.suffix in (".yaml", ".yml")]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.fixture(scope="module")
def yaml() -> ModuleType:
    import yaml as pyyaml

    return pyyaml


def _load_all(yaml: ModuleType, path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d is not None]


def _k8s_docs(yaml: ModuleType) -> list[dict[str, Any]]:
    return [d for p in sorted(K8S.glob("*.yaml")) for d in _load_all(yaml, p)]


def _of_kind(yaml: ModuleType, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _k8s_docs(yaml) if d["kind"] == kind}


def _pod_templates(yaml: ModuleType) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in _k8s_docs(yaml):
        if doc["kind"] in ("Deployment", "Job"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]


def _argv(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def _compose(yaml: ModuleType) -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text("utf-8"))
    assert isinstance(doc, dict)
    return doc


def _compose_argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else list(command)


def _uses_project_image(service: dict[str, Any]) -> bool:
    return "build" in service or str(service.get("image", "")).startswith("yima")


# --- files --------------------------------------------------------------------------------------------


def test_deploy_files_exist() -> None:
    missing = [name for name in EXPECTED if not (DEPLOY / name).is_file()]
    assert not missing, f"missing under deploy/: {missing}"


def test_local_secret_files_are_git_ignored() -> None:
    ignored = {line.strip() for line in (DEPLOY / ".gitignore").read_text("utf-8").splitlines()}
    assert {"/.env", "/secrets/"} <= ignored


def test_every_yaml_file_parses(yaml: ModuleType) -> None:
    files = _yaml_files()
    assert len(files) >= 9
    for path in files:
        docs = _load_all(yaml, path)
        assert docs, f"{_rel(path)} is empty"
        assert all(isinstance(d, dict) for d in docs), f"{_rel(path)}: every document must be a mapping"


# --- Kubernetes ----------------------------------------------------------------------------------------


def test_k8s_documents_are_well_formed_and_namespace_agnostic(yaml: ModuleType) -> None:
    docs = _k8s_docs(yaml)
    assert {d["kind"] for d in docs} >= {
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    seen: set[tuple[str, str]] = set()
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind"), doc
        name = (doc.get("metadata") or {}).get("name")
        assert name, f"{doc['kind']} without metadata.name"
        assert "namespace" not in doc["metadata"], f"{doc['kind']}/{name} names a namespace"
        assert (doc["kind"], name) not in seen, f"duplicate {doc['kind']}/{name}"
        seen.add((doc["kind"], name))


def test_pods_run_as_non_root_with_limits_and_a_read_only_root(yaml: ModuleType) -> None:
    templates = list(_pod_templates(yaml))
    assert len(templates) == 3  # app, worker, migrate
    for where, template in templates:
        spec = template["spec"]
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, where
        assert pod_sc.get("runAsUser", 0) != 0, where
        assert spec.get("automountServiceAccountToken") is False, where
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec["containers"]:
            resources = c.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}/{c['name']}: {bound}"
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: a read-only root needs a writable /tmp"
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]], where
            for m in mounts.values():
                assert m["name"] in volumes, f"{where}: mount of undeclared volume {m['name']}"


def test_deployments_have_probes(yaml: ModuleType) -> None:
    deployments = _of_kind(yaml, "Deployment")
    assert set(deployments) == {"yima-app", "yima-worker"}
    for name, dep in deployments.items():
        assert dep["spec"]["replicas"] >= 2, name
        if name in NO_PROBES:
            continue
        for c in dep["spec"]["template"]["spec"]["containers"]:
            assert "readinessProbe" in c and "livenessProbe" in c, f"{name}/{c['name']}"


def test_app_probes_readiness_on_healthz_and_liveness_that_survives_a_redis_blip(yaml: ModuleType) -> None:
    (c,) = _of_kind(yaml, "Deployment")["yima-app"]["spec"]["template"]["spec"]["containers"]
    ports = {p.get("name"): p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8000}
    ready = c["readinessProbe"]["httpGet"]
    assert ready["path"] == "/healthz" and ready["port"] in ("http", 8000)
    # /healthz is 503 whenever Redis or SQL is down: as a liveness check it would restart every replica.
    live = c["livenessProbe"]
    assert live.get("httpGet", {}).get("path") != "/healthz", "liveness must not depend on Redis/SQL"
    assert "tcpSocket" in live or "httpGet" in live or "exec" in live
    if "httpGet" in live:
        assert live["httpGet"]["path"] == "/livez" and live["httpGet"]["port"] in ("http", 8000)
        from flask import Flask

        from app.health import bp

        routes = Flask("probe-routes")
        routes.register_blueprint(bp)
        assert "/livez" in {rule.rule for rule in routes.url_map.iter_rules()}, "the app serves no /livez"


def test_a_worker_that_exits_is_restarted_by_k8s_and_compose(yaml: ModuleType) -> None:
    spec = _of_kind(yaml, "Deployment")["yima-worker"]["spec"]["template"]["spec"]
    assert spec.get("restartPolicy", "Always") == "Always"
    worker = _compose(yaml)["services"]["worker"]
    assert worker.get("restart") in ("always", "unless-stopped", "on-failure"), worker.get("restart")


def test_keys_file_is_mounted_read_only_from_the_secret(yaml: ModuleType) -> None:
    config = _of_kind(yaml, "ConfigMap")["yima-config"]["data"]
    spec = _of_kind(yaml, "Deployment")["yima-app"]["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    keys_file = Path(config["YIMA_KEYS_FILE"])
    (mount,) = [m for m in c["volumeMounts"] if Path(m["mountPath"]) == keys_file.parent]
    assert mount.get("readOnly") is True
    source = volumes[mount["name"]]["secret"]
    assert source["secretName"] in _of_kind(yaml, "Secret")
    assert {"key": "keys.json", "path": keys_file.name} in source["items"]
    assert source["defaultMode"] & 0o007 == 0, "the key file must not be world-readable"
    # Least privilege: worker and migrate never see the master keys.
    for where, template in _pod_templates(yaml):
        if where != "Deployment/yima-app":
            assert not any("secret" in v for v in template["spec"].get("volumes", [])), where


def test_k8s_references_resolve(yaml: ModuleType) -> None:
    configmaps, secrets_ = _of_kind(yaml, "ConfigMap"), _of_kind(yaml, "Secret")
    deployments = _of_kind(yaml, "Deployment")
    images = set()
    for where, template in _pod_templates(yaml):
        for c in template["spec"]["containers"]:
            images.add(c["image"])
            for ref in c.get("envFrom", []):
                if "configMapRef" in ref:
                    assert ref["configMapRef"]["name"] in configmaps, where
                if "secretRef" in ref:
                    assert ref["secretRef"]["name"] in secrets_, where
    assert len(images) == 1, f"app, worker and migrate should run one image: {images}"
    for name, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
    app_labels = deployments["yima-app"]["spec"]["template"]["metadata"]["labels"]
    worker_labels = deployments["yima-worker"]["spec"]["template"]["metadata"]["labels"]
    (service,) = _of_kind(yaml, "Service").values()
    assert service["spec"]["selector"].items() <= app_labels.items()
    assert not service["spec"]["selector"].items() <= worker_labels.items(), "the Service must not pick workers"
    (c,) = deployments["yima-app"]["spec"]["template"]["spec"]["containers"]
    assert service["spec"]["ports"][0]["targetPort"] in {p.get("name") for p in c["ports"]}
    (hpa,) = _of_kind(yaml, "HorizontalPodAutoscaler").values()
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "yima-app")
    assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    (pdb,) = _of_kind(yaml, "PodDisruptionBudget").values()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= app_labels.items()


def test_configmap_holds_no_secrets_and_the_example_secret_only_placeholders(yaml: ModuleType) -> None:
    for name, cm in _of_kind(yaml, "ConfigMap").items():
        assert not SECRET_ENV & set(cm["data"]), f"ConfigMap {name} holds a secret setting"
    example = _load_all(yaml, K8S / "secret.example.yaml")
    assert {d["kind"] for d in example} == {"Secret"}
    for doc in example:
        assert "data" not in doc, "base64 data cannot be seen to be a placeholder: use stringData"
        for key, value in doc["stringData"].items():
            assert PLACEHOLDER in value, f"secret.example.yaml {doc['metadata']['name']}.{key} is not a placeholder"
    assert {"YIMA_SECRET_KEY", "YIMA_MEMBER_SECRET", "YIMA_OPS_TOKEN", "DATABASE_URL", "keys.json"} <= {
        k for d in example for k in d["stringData"]}


def test_k8s_app_gets_every_production_setting(yaml: ModuleType) -> None:
    (c,) = _of_kind(yaml, "Deployment")["yima-app"]["spec"]["template"]["spec"]["containers"]
    configmaps, secrets_ = _of_kind(yaml, "ConfigMap"), _of_kind(yaml, "Secret")
    names = {e["name"] for e in c.get("env", [])}
    for ref in c["envFrom"]:
        if "configMapRef" in ref:
            names |= set(configmaps[ref["configMapRef"]["name"]]["data"])
        if "secretRef" in ref:
            names |= set(secrets_[ref["secretRef"]["name"]]["stringData"])
    assert names >= PRODUCTION_ENV, sorted(PRODUCTION_ENV - names)


# --- compose -------------------------------------------------------------------------------------------


def test_compose_services_and_their_references(yaml: ModuleType) -> None:
    doc = _compose(yaml)
    services = doc["services"]
    assert set(services) == {"redis", "postgres", "migrate", "app", "worker"}
    declared_secrets, declared_volumes = set(doc.get("secrets", {})), set(doc.get("volumes", {}))
    for name, svc in services.items():
        depends = svc.get("depends_on", {})
        for dep, cond in depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends):
            assert dep in services and dep != name, f"{name} depends on unknown service {dep!r}"
            assert cond.get("condition", "service_started") in (
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            ), name
            if cond.get("condition") == "service_healthy":
                assert "test" in services[dep].get("healthcheck", {}), f"{name} waits on {dep}, which has no check"
        for s in svc.get("secrets", []):
            assert (s["source"] if isinstance(s, dict) else s) in declared_secrets, name
        for v in svc.get("volumes", []):
            source = v.split(":", 1)[0] if isinstance(v, str) else v["source"]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name} mounts undeclared volume {source}"
    for name, secret in doc.get("secrets", {}).items():
        assert _is_local_only((COMPOSE.parent / secret["file"]).resolve()), f"secret {name}: use a git-ignored file"


def test_compose_startup_order_and_health(yaml: ModuleType) -> None:
    services = _compose(yaml)["services"]
    assert services["redis"]["image"].startswith("redis:7")
    redis_cmd = " ".join(_compose_argv(services["redis"]))
    assert "--appendonly yes" in redis_cmd and "--appendfsync everysec" in redis_cmd
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("app", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert "/healthz" in " ".join(services["app"]["healthcheck"]["test"])
    # The image's HEALTHCHECK asks /healthz: services without an HTTP server must switch it off.
    for name in ("migrate", "worker"):
        assert services[name]["healthcheck"] == {"disable": True}, name


def test_compose_keys_and_secret_settings(yaml: ModuleType) -> None:
    doc = _compose(yaml)
    services = doc["services"]
    app = services["app"]
    assert set(app["environment"]) >= PRODUCTION_ENV, sorted(PRODUCTION_ENV - set(app["environment"]))
    (mounted,) = app["secrets"]
    target = mounted["target"] if isinstance(mounted, dict) else mounted
    assert app["environment"]["YIMA_KEYS_FILE"] == str(Path("/run/secrets") / target)
    for name in ("migrate", "worker"):
        assert not services[name].get("secrets"), f"{name} does not need the master keys"
    # Secret values come from deploy/.env through ${...}, never literally.
    for name, svc in services.items():
        env = svc.get("environment", {})
        for key in ("YIMA_SECRET_KEY", "YIMA_MEMBER_SECRET", "YIMA_OPS_TOKEN", "POSTGRES_PASSWORD"):
            if key in env:
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", env[key]), f"{name}.{key} must be a required ${{...}}"
        if "DATABASE_URL" in env:
            assert "${POSTGRES_PASSWORD" in env["DATABASE_URL"], f"{name}.DATABASE_URL has a literal password"


# --- commands ------------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text("utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        instruction, _, rest = (pending + line).partition(" ")
        out.append((instruction.upper(), rest.strip()))
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def _dockerfile_cmd() -> list[str]:
    (cmd,) = [rest for ins, rest in _dockerfile() if ins == "CMD"]
    argv = json.loads(cmd)  # exec form: gunicorn gets SIGTERM directly, no shell in between
    assert isinstance(argv, list)
    return [str(a) for a in argv]


def _all_commands(yaml: ModuleType) -> list[tuple[str, list[str]]]:
    found = [("Dockerfile CMD", _dockerfile_cmd())]
    for where, template in _pod_templates(yaml):
        for c in template["spec"]["containers"]:
            assert c.get("command"), f"{where}/{c['name']}: say the command explicitly"
            found.append((f"{where}/{c['name']}", _argv(c)))
    for name, svc in _compose(yaml)["services"].items():
        if _uses_project_image(svc):
            found.append((f"compose {name}", _compose_argv(svc)))
    return found


def _check_gunicorn(where: str, argv: list[str]) -> None:
    from gunicorn.config import Config

    try:
        parsed = Config().parser().parse_args(argv[1:])  # gunicorn's own parser
    except SystemExit:
        pytest.fail(f"{where}: gunicorn rejects the arguments {argv[1:]}")
    assert parsed.config == GUNICORN_CONFIG, f"{where}: use the shared settings module"
    assert parsed.args == [WSGI_APP], where
    assert parsed.bind == ["0.0.0.0:8000"], where


def test_containers_run_only_commands_the_project_provides(yaml: ModuleType) -> None:
    seen = set()
    for where, argv in _all_commands(yaml):
        if argv[:1] == ["gunicorn"]:
            _check_gunicorn(where, argv)
            seen.add("gunicorn")
        elif argv in (WORKER, MIGRATE):
            seen.add(" ".join(argv))
        else:
            pytest.fail(f"{where} runs {argv}: not a command yima provides")
    assert seen == {"gunicorn", "yima worker", "codegen db upgrade"}


def test_console_scripts_exist() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    for name in ("yima", "codegen"):
        module, _, func = scripts[name].partition(":")
        assert callable(getattr(importlib.import_module(module), func)), scripts[name]


def _click_command(script: str, path: list[str]) -> Any:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["scripts"]
    module = importlib.import_module(scripts[script].partition(":")[0])
    command = module.cli
    for part in path:
        command = command.commands.get(part) if hasattr(command, "commands") else None
        if command is None:
            return None
    return command


def test_the_commands_deploy_runs_exist_in_the_clis() -> None:
    assert _click_command("codegen", MIGRATE[1:]) is not None
    assert _click_command("yima", WORKER[1:]) is not None


def test_gunicorn_conf_is_importable_and_only_sets_gunicorn_settings() -> None:
    from gunicorn.config import Config

    conf = importlib.import_module("app.gunicorn_conf")
    known = Config().settings
    names = {n for n in vars(conf) if not n.startswith("_")}
    assert names and names <= set(known), f"not gunicorn settings: {sorted(names - set(known))}"


# --- environment variables -----------------------------------------------------------------------------

ENV_NAME = re.compile(r"(?<![A-Za-z0-9_])(YIMA_[A-Z0-9_]+|DATABASE_URL|REDIS_URL|PORT|HOST)(?![A-Za-z0-9_])")


def _config_env_names() -> set[str]:
    """Names app/config.py reads: env.get("NAME") and helper calls like _int(env, "NAME", …)."""
    tree = ast.parse((ROOT / "app" / "config.py").read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
        for before, arg in zip(node.args, node.args[1:], strict=False):
            if isinstance(before, ast.Name) and before.id == "env" and isinstance(arg, ast.Constant):
                names.add(str(arg.value))
    return names


def test_config_env_names_are_found() -> None:
    assert _config_env_names() >= {"DATABASE_URL", "REDIS_URL", "PORT", "HOST", "YIMA_SECRET_KEY", "YIMA_KEYS_FILE"}


@pytest.mark.parametrize("path", _deploy_files(), ids=_rel)
def test_deploy_uses_only_environment_variables_config_reads(path: Path) -> None:
    used = set(ENV_NAME.findall(path.read_text("utf-8")))
    unknown = used - _config_env_names()
    assert not unknown, f"{_rel(path)} names {sorted(unknown)}, which app/config.py does not read"


# --- secrets -------------------------------------------------------------------------------------------

BLOB = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
PLACEHOLDER_MARKS = ("REPLACE_ME", "EXAMPLE", "PLACEHOLDER", "CHANGE_ME", "CHANGEME")


def _secret_like(text: str) -> list[str]:
    found = [
        blob
        for blob in BLOB.findall(text)
        if re.search(r"\d", blob)
        and re.search(r"[A-Za-z]", blob)
        and not any(mark in blob.upper() for mark in PLACEHOLDER_MARKS)
    ]
    found += re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)
    return found


def test_the_secret_detector_catches_real_looking_values() -> None:
    assert _secret_like(f"YIMA_SECRET_KEY={secrets.token_hex(32)}")
    assert _secret_like(f'"1": "{secrets.token_urlsafe(32)}"')
    assert _secret_like("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert not _secret_like("YIMA_SECRET_KEY: REPLACE_ME-with-openssl-rand-hex-32-chars-xx")
    assert not _secret_like("condition: service_completed_successfully")


@pytest.mark.parametrize("path", _deploy_files(), ids=_rel)
def test_no_real_secrets_under_deploy(path: Path) -> None:
    assert not _secret_like(path.read_text("utf-8")), f"{_rel(path)} holds something that looks like a secret"


# --- Dockerfile ----------------------------------------------------------------------------------------


def test_dockerfile_builds_the_project_on_python_slim() -> None:
    instructions = _dockerfile()
    froms = [rest.split()[0] for ins, rest in instructions if ins == "FROM"]
    assert froms and all(f == "python:3.11-slim" for f in froms), froms
    assert any(ins == "RUN" and re.search(r"pip install \.(\s|$)", rest) for ins, rest in instructions)
    assert ("EXPOSE", "8000") in instructions


def test_dockerfile_runs_as_non_root_and_bakes_in_no_secret() -> None:
    instructions = _dockerfile()
    users = [rest for ins, rest in instructions if ins == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert not [rest for ins, rest in instructions if ins == "ADD"], "use COPY (ADD fetches URLs and unpacks)"
    for ins, rest in instructions:
        if ins == "COPY":
            assert not re.search(r"keys\.json|secret|\.env\b|\bvar/", rest, re.I), f"COPY {rest}"
        if ins in ("ENV", "ARG"):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL", rest), f"{ins} {rest}"


def test_dockerfile_healthcheck_and_cmd() -> None:
    (check,) = [rest for ins, rest in _dockerfile() if ins == "HEALTHCHECK"]
    assert "/healthz" in check and re.search(r"\bpython\b", check)
    assert "curl" not in check and "wget" not in check  # neither is in python:3.11-slim
    argv = _dockerfile_cmd()
    assert argv[0] == "gunicorn"
    _check_gunicorn("Dockerfile CMD", argv)


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    text = (DEPLOY / "Dockerfile.dockerignore").read_text("utf-8")
    rules = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert rules[0] == "**", "exclude everything, then allow the sources"
    allowed = {r[1:] for r in rules if r.startswith("!")}
    found = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["packages"]["find"]
    packages = {f"{p.rstrip('*')}/" for p in found["include"]}
    assert allowed <= {"pyproject.toml", "README.md", *packages}, allowed
    # Every package pyproject installs is in the image: one left out is an image that cannot start.
    copied = {rest.split()[0] for ins, rest in _dockerfile() if ins == "COPY" and not rest.startswith("--from")}
    assert packages <= allowed and packages <= copied, (allowed, copied)
    assert "**/keys.json" in rules and "**/.env" in rules
