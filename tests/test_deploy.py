"""Production readiness: Django's deployment checks pass with production values, a deployment without
a SECRET_KEY refuses to start, and docker-compose.yml is a valid full stack (validated by Debian's
docker-compose; there is no Docker engine here, so `config` is the check)."""

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "HTTPS": "true",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "portal.example.com",
}
COMPOSE_ENV = {
    "SECRET_KEY": "compose-test-key",
    "ALLOWED_HOSTS": "portal.example.com",
    "POSTGRES_PASSWORD": "compose-test-password",
    "UPSTREAM_BASE_URL": "https://api.equinix.com",
    "UPSTREAM_CLIENT_ID": "compose-test-id",
    "UPSTREAM_CLIENT_SECRET": "compose-test-secret",
    "FLOWER_BASIC_AUTH": "operator:compose-test-password",
}


def _manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_without_https_hardening():
    # The same check is not a formality: without HTTPS=true cookies are not secure and there is no HSTS.
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "HTTPS": "false"})
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout


def test_a_deployment_without_secret_key_refuses_to_start():
    result = _manage("check", **{**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_cookies_are_secure():
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, "
        "s.DEBUG)"
    )
    result = _manage("shell", "--no-imports", "-c", code, **PRODUCTION)
    assert result.stdout.split()[-5:] == ["True", "True", "True", "True", "False"], result.stdout + result.stderr


def _compose(tmp_path, env, *args):
    compose = shutil.which("docker-compose")
    assert compose, "docker-compose is not installed (.ci/run installs Debian's)"
    env_file = tmp_path / "empty.env"  # never the developer's .env
    env_file.write_text("")
    return subprocess.run(
        [compose, "--env-file", str(env_file), "-f", "docker-compose.yml", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_compose_file_is_valid(tmp_path):
    result = _compose(tmp_path, COMPOSE_ENV, "config", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"])
def test_compose_has_no_default_secret(tmp_path, missing):
    env = {k: v for k, v in COMPOSE_ENV.items() if k != missing}
    result = _compose(tmp_path, env, "config", "-q")
    assert result.returncode != 0 and missing in result.stderr


def test_compose_runs_the_full_stack_from_one_image(tmp_path):
    result = _compose(tmp_path, COMPOSE_ENV, "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "worker-upstream", "beat", "flower", "mailpit"}
    django = ["web", "worker", "worker-upstream", "beat", "flower"]
    assert {services[s]["image"] for s in django} == {"workvisit-portal:latest"}
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert services["worker"]["command"][:4] == ["celery", "-A", "portal", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "portal", "beat"]
    upstream = " ".join(services["worker-upstream"]["command"])
    assert "--pool threads" in upstream and "--queues upstream" in upstream
    for name in django:
        env = services[name]["environment"]
        assert (env["DEBUG"], env["HTTPS"], env["SECRET_KEY"]) == ("false", "true", "compose-test-key")
        assert env["MEDIA_ROOT"] == "/data/uploads"
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:")
    for name in ("web", "worker"):
        assert any("uploads:/data/uploads" in v for v in _volumes(services[name])), services[name]["volumes"]
    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert services["web"]["environment"]["EMAIL_URL"] == "smtp://mailpit:1025"


def _volumes(service):
    return [f"{v['source']}:{v['target']}" if isinstance(v, dict) else v for v in service.get("volumes", [])]


def test_no_secret_files_are_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not {".env", "var/secret_key"} & set(tracked.splitlines())
    assert ".env" in (ROOT / ".gitignore").read_text().split()
