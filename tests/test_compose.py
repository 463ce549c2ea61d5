"""compose.yaml, checked without Docker (no engine runs here): its services, that every Refinery setting it sets is
one Refinery reads (and validates), and that the host names and ports in those settings point at its own services."""

from __future__ import annotations

import importlib.metadata
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from service.core.settings import Settings

COMPOSE = Path(__file__).resolve().parent.parent / "compose.yaml"
SCALED = ("api", "worker")  # the Refinery processes of the scaled setup
SETTING = re.compile(r"^(REFINERY_|DATABASE_URL$|CHROMA_|OPENAI_)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the `- KEY=value` form
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def option(service: dict[str, Any], name: str) -> str | None:
    """The value after `name` in the service's command, or None."""
    cmd = command(service)
    return cmd[cmd.index(name) + 1] if name in cmd else None


def setting_aliases() -> set[str]:
    aliases: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, str):
            aliases.add(alias)
        elif isinstance(alias, AliasChoices):
            aliases.update(choice for choice in alias.choices if isinstance(choice, str))
    return aliases


def refinery_services(services: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, service in services.items() if service.get("build")]


def test_the_scaled_services_exist(services):
    assert {"api", "worker", "postgres", "chroma", "model"} <= services.keys()
    assert set(SCALED) <= set(refinery_services(services))


def test_every_refinery_variable_is_a_setting(services):
    aliases = setting_aliases()
    assert {"DATABASE_URL", "CHROMA_HOST", "REFINERY_QUEUE", "OPENAI_BASE_URL"} <= aliases  # the collection works
    for name in refinery_services(services):
        unknown = {key for key in environment(services[name]) if SETTING.match(key)} - aliases
        assert not unknown, f"{name} sets {sorted(unknown)}, which Refinery does not read (a typo?)"


def test_the_scaled_environment_is_valid_settings(services):
    settings = Settings(_env_file=None, **environment(services["api"]))
    assert settings.queue == "postgres"
    assert settings.llm_provider == "openai"
    assert settings.database_url and settings.chroma_host and settings.openai_base_url


def test_api_and_worker_are_the_same_refinery(services):
    api, worker = services["api"], services["worker"]
    assert environment(api) == environment(worker)
    for key in ("build", "image", "volumes", "depends_on"):
        assert api.get(key) == worker.get(key), key
    assert environment(api)["REFINERY_QUEUE"] == "postgres"  # not inline: the workers would get no jobs


def test_commands(services):
    assert command(services["worker"])[0] == "worker"  # the image's entrypoint is `refinery`
    assert command(services["api"])[0] == "serve"
    assert option(services["api"], "--host") == "0.0.0.0"


def test_the_worker_scales(services):
    worker = services["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert worker["restart"] == "unless-stopped"
    assert not worker.get("ports"), "a published port would stop `--scale worker=N` at the second replica"
    assert worker.get("healthcheck", {}).get("disable"), "the image's healthcheck asks an HTTP API a worker lacks"


def test_database_url_is_the_postgres_service(services):
    url = urlsplit(environment(services["api"])["DATABASE_URL"])
    assert url.scheme.startswith("postgresql")
    postgres = services[url.hostname]
    assert postgres["image"].startswith("postgres:")
    env = environment(postgres)
    assert (url.username, url.password, url.path.lstrip("/")) == (
        env["POSTGRES_USER"],
        env["POSTGRES_PASSWORD"],
        env["POSTGRES_DB"],
    )
    assert url.port in (None, 5432)
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_chroma_host_is_the_chroma_service(services):
    env = environment(services["api"])
    chroma = services[env["CHROMA_HOST"]]
    image, _, tag = chroma["image"].partition(":")
    assert image == "chromadb/chroma"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"pin a Chroma release, not {tag!r}"
    client = importlib.metadata.version("chromadb")
    assert tag.split(".")[0] == client.split(".")[0], f"server {tag}, client chromadb {client}"
    assert option(chroma, "--port") == env["CHROMA_PORT"]
    assert option(chroma, "--host") == "0.0.0.0"


def test_each_model_url_is_a_service(services):
    env = environment(services["api"])
    urls = [url.strip() for url in env["OPENAI_BASE_URL"].split(",")]
    for url in urls:
        parts = urlsplit(url)
        assert parts.hostname in services, f"{url}: no service {parts.hostname!r}"
        port = option(services[parts.hostname], "--port")
        assert port is None or int(port) == parts.port, f"{url}: the server listens on {port}"


def test_the_model_server_has_room_for_refinery(services):
    """Each of llama-server's --parallel slots gets --ctx-size / slots tokens; Refinery's calls assume
    REFINERY_LLM_CONTEXT_TOKENS each."""
    model = services["model"]
    assert model["image"].startswith("ghcr.io/ggml-org/llama.cpp:server")
    assert "--cont-batching" in command(model)
    slots = int(option(model, "--parallel"))
    settings = Settings(_env_file=None, **environment(services["api"]))
    assert int(option(model, "--ctx-size")) >= slots * settings.llm_context_tokens
    assert option(model, "--alias") == settings.llm_model


def test_depends_on_targets_exist_and_healthy_ones_have_healthchecks(services):
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for target in depends:
            assert target in services, f"{name} depends on a missing {target}"
            if isinstance(depends, dict) and depends[target].get("condition") == "service_healthy":
                assert services[target].get("healthcheck", {}).get("test"), f"{target} has no healthcheck"
    for name in SCALED:
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in declared, f"{name} mounts the undeclared volume {source}"


def test_default_services_publish_distinct_host_ports(services):
    """`docker compose up` starts the services without a profile; two of them on one host port would not start.
    (The embedded laptop service shares the API's port, so it must stay behind a profile.)"""
    seen: dict[str, str] = {}
    for name, service in services.items():
        if service.get("profiles"):
            continue
        for port in service.get("ports") or []:
            host = str(port).rsplit(":", 1)[0]
            assert host not in seen, f"{name} and {seen.get(host)} both publish {host}"
            seen[host] = name
    assert services["embedded"]["profiles"]
