"""The production-like topology (temporal-compose.yml) and the image it builds.

No Docker engine runs in CI, so instead of `docker compose config` the file is validated against the
Compose Specification's JSON Schema, and the wiring a person relies on is checked service by service.
"""

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from starter.cli import build_parser
from workflows.search_attributes import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "temporal-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "compose-spec.schema.json"

TEMPORAL_ADDRESS = "temporal:7233"
OMS_SERVICES = ("oms-migrate", "oms-api", "oms-worker", "oms-relay", "oms-simulators")
REQUIRED_SERVICES = frozenset(
    {"postgresql", "temporal", "temporal-admin-tools", "temporal-ui", "oms-db", *OMS_SERVICES}
)
OMS_SUBCOMMANDS = frozenset({"api", "worker", "relay", "simulators"})
# What the order workflow upserts (workflows/search_attributes.py), spelled out so a rename is noticed here too.
WORKFLOW_SEARCH_ATTRIBUTES = {
    "OrderStatus": "Keyword",
    "CustomerId": "Keyword",
    "Channel": "Keyword",
    "OrderTotal": "Double",
}


# ---------------------------------------------------------------- reading the files


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{COMPOSE_FILE.name} is not a mapping at the top level"
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose.get("services")
    assert isinstance(found, dict) and found, f"{COMPOSE_FILE.name} defines no services"
    return found


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not SCHEMA_FILE.is_file():
        pytest.fail(
            f"the Compose Specification schema is missing: expected {SCHEMA_FILE} "
            "(compose-spec/compose-spec schema/compose-spec.json, see shared/data/README.md)",
            pytrace=False,
        )
    loaded = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{SCHEMA_FILE} is not a JSON object"
    return loaded


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two Compose forms it is written in."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (str(item).partition("=") for item in env)
        return {key: value for key, _, value in pairs}
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency name -> condition; the short list form means `service_started`."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(name): "service_started" for name in deps}
    return {str(name): str(spec.get("condition", "service_started")) for name, spec in deps.items()}


def published_ports(service: dict[str, Any]) -> dict[int, tuple[int, str]]:
    """Host port -> (container port, host address it is bound to) for every port the service publishes."""
    published: dict[int, tuple[int, str]] = {}
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") is not None:
                published[int(str(port["published"]))] = (int(port["target"]), str(port.get("host_ip", "0.0.0.0")))
            continue
        parts = str(port).split("/")[0].split(":")
        if len(parts) >= 2:  # HOST:CONTAINER or IP:HOST:CONTAINER; a lone CONTAINER port is not published
            address = parts[0] if len(parts) == 3 else "0.0.0.0"
            published[int(parts[-2])] = (int(parts[-1]), address)
    return published


def argv(command: object) -> list[str]:
    if isinstance(command, str):
        return shlex.split(command)
    return [str(part) for part in command] if isinstance(command, list) else []


def oms_subcommand(words: list[str]) -> str | None:
    """`oms api` -> "api"; None when the command does not run the `oms` entry point."""
    if words and Path(words[0]).name == "oms":
        return words[1] if len(words) > 1 else ""
    return None


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    return [(keyword.upper(), rest.strip()) for keyword, _, rest in (line.partition(" ") for line in logical)]


def exec_form(arguments: str) -> list[str]:
    """CMD/ENTRYPOINT arguments as argv: JSON (exec) form as written, shell form split as sh would."""
    if arguments.startswith("["):
        parsed = json.loads(arguments)
        assert isinstance(parsed, list)
        return [str(part) for part in parsed]
    return shlex.split(arguments)


def dockerfile_argv() -> list[str]:
    last: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
    for keyword, arguments in dockerfile_instructions():
        if keyword in last:
            last[keyword] = exec_form(arguments)
    return last["ENTRYPOINT"] + last["CMD"]


def is_postgres(service: dict[str, Any]) -> bool:
    return str(service.get("image", "")).split(":")[0] in ("postgres", "library/postgres", "docker.io/postgres")


def cli_has_subcommand(name: str) -> bool:
    try:
        parsed = build_parser().parse_args([name])
    except SystemExit:
        return False
    return bool(parsed.command == name)


# ---------------------------------------------------------------- the file is Compose


def test_the_compose_file_is_valid_against_the_compose_specification(
    compose: dict[str, Any], schema: dict[str, Any]
) -> None:
    # given the Compose Specification's schema, which declares JSON Schema draft 7
    assert "draft-07" in str(schema.get("$schema")), f"the schema declares {schema.get('$schema')!r}, not draft 7"
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    # when the compose file is validated against it
    errors = sorted(validator.iter_errors(compose), key=lambda error: list(error.absolute_path))
    # then nothing is reported
    report = [f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}" for error in errors]
    assert report == []


def test_every_service_the_oms_needs_is_defined(services: dict[str, dict[str, Any]]) -> None:
    # given the services the topology must run
    # when the compose file is read
    defined = set(services)
    # then none is missing
    assert sorted(REQUIRED_SERVICES - defined) == []


def test_every_depends_on_names_a_defined_service(services: dict[str, dict[str, Any]]) -> None:
    # given every dependency every service declares
    declared = {(name, dependency) for name, service in services.items() for dependency in depends_on(service)}
    assert declared, "no service declares a dependency"
    # when each is looked up among the services
    dangling = sorted((name, dependency) for name, dependency in declared if dependency not in services)
    # then each names a defined service
    assert dangling == []


# ---------------------------------------------------------------- Temporal


def test_temporal_runs_on_postgresql_once_it_is_healthy(services: dict[str, dict[str, Any]]) -> None:
    # given the Temporal server
    temporal = services["temporal"]
    env = environment(temporal)
    # when its persistence settings are read
    database = services.get(env.get("POSTGRES_SEEDS", ""), {})
    database_env = environment(database)
    # then it is the auto-setup image on the PostgreSQL service, with that server's credentials
    assert str(temporal.get("image", "")).startswith("temporalio/auto-setup")
    assert env.get("DB") == "postgres12"
    assert env.get("DB_PORT") == "5432"
    assert env.get("POSTGRES_SEEDS") == "postgresql"
    assert is_postgres(database), f"POSTGRES_SEEDS names {env.get('POSTGRES_SEEDS')!r}, not a PostgreSQL service"
    assert env.get("POSTGRES_USER") == database_env.get("POSTGRES_USER")
    assert env.get("POSTGRES_PWD") == database_env.get("POSTGRES_PASSWORD")
    # and it starts only once PostgreSQL reports healthy, which needs PostgreSQL's own healthcheck
    assert depends_on(temporal).get("postgresql") == "service_healthy"
    assert database.get("healthcheck", {}).get("test"), "postgresql has no healthcheck"
    # and the server's data lives on a volume
    assert any(str(volume).endswith(":/var/lib/postgresql/data") for volume in database.get("volumes", []))


def test_the_ui_points_at_the_temporal_service(services: dict[str, dict[str, Any]]) -> None:
    # given the Temporal Web UI
    ui = services["temporal-ui"]
    # when its settings are read
    address = environment(ui).get("TEMPORAL_ADDRESS")
    # then it talks to the temporal service's frontend port
    assert str(ui.get("image", "")).startswith("temporalio/ui")
    assert address == TEMPORAL_ADDRESS
    assert "temporal" in depends_on(ui)


def test_every_search_attribute_the_workflows_use_is_registered_with_its_type(
    services: dict[str, dict[str, Any]],
) -> None:
    # given the search attributes the order workflow upserts
    assert WORKFLOW_SEARCH_ATTRIBUTES.items() <= REGISTRY.items()
    job = services["temporal-admin-tools"]
    # when the registration job's list is read
    listed = environment(job).get("SEARCH_ATTRIBUTES", "").split()
    registered = dict(pair.split("=", 1) for pair in listed if "=" in pair)
    script = " ".join(argv(job.get("entrypoint")) + argv(job.get("command")))
    # then every one is registered, with its type, by `temporal operator search-attribute create`
    missing = {name: kind for name, kind in REGISTRY.items() if registered.get(name) != kind}
    assert missing == {}, f"not registered with these types: {missing}; registered: {registered}"
    assert "temporal operator search-attribute create" in script
    assert "SEARCH_ATTRIBUTES" in script
    assert environment(job).get("TEMPORAL_ADDRESS") == TEMPORAL_ADDRESS
    # and against a server that already answers, before any worker can upsert them
    assert depends_on(job).get("temporal") == "service_healthy"
    assert depends_on(services["oms-worker"]).get("temporal-admin-tools") == "service_completed_successfully"


# ---------------------------------------------------------------- the OMS


@pytest.mark.parametrize("name", ["oms-api", "oms-worker"])
def test_the_api_and_the_worker_reach_temporal_and_the_migrated_read_model(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    # given an OMS process that talks to Temporal and the read model
    service = services[name]
    env = environment(service)
    # when its connection settings are read
    url = env.get("OMS_DATABASE_URL", "")
    host = urlsplit(url).hostname or ""
    # then it reaches the temporal service
    assert env.get("OMS_TEMPORAL_ADDRESS") == TEMPORAL_ADDRESS
    assert depends_on(service).get("temporal") in ("service_started", "service_healthy")
    # and a PostgreSQL service, the very database the migration job upgrades, after it has succeeded
    assert urlsplit(url).scheme.startswith("postgres"), f"OMS_DATABASE_URL is not a PostgreSQL URL: {url!r}"
    assert is_postgres(services.get(host, {})), f"OMS_DATABASE_URL points at {host!r}, not a PostgreSQL service"
    assert url == environment(services["oms-migrate"]).get("OMS_DATABASE_URL")
    assert depends_on(service).get("oms-migrate") == "service_completed_successfully"


def test_the_migration_job_upgrades_the_read_model_once_its_database_is_healthy(
    services: dict[str, dict[str, Any]],
) -> None:
    # given the migration job
    job = services["oms-migrate"]
    # when its command is read
    words = argv(job.get("command"))
    # then it runs the Alembic upgrade against OMS_DATABASE_URL
    assert words[:2] == ["python", "-c"]
    assert "from store.migrate import upgrade" in words[2]
    assert "upgrade(os.environ['OMS_DATABASE_URL'])" in words[2]
    # and waits for the database it migrates to be healthy
    host = urlsplit(environment(job).get("OMS_DATABASE_URL", "")).hostname or ""
    assert depends_on(job).get(host) == "service_healthy"
    assert services[host].get("healthcheck", {}).get("test"), f"{host} has no healthcheck"


def test_the_api_runs_in_production_with_tokens_from_the_host(services: dict[str, dict[str, Any]]) -> None:
    # given the API service
    api = services["oms-api"]
    env = environment(api)
    # when its settings are read
    tokens = env.get("OMS_TOKENS", "")
    # then it runs in production unless told otherwise (the simulators' demo), refuses to start without
    # OMS_TOKENS and the codec's keys, and listens beyond the container
    assert env.get("OMS_ENV") == "${OMS_ENV:-production}"
    assert re.fullmatch(r"\$\{OMS_CODEC_KEYS:\?[^}]+\}", env.get("OMS_CODEC_KEYS", ""))
    assert re.fullmatch(r"\$\{OMS_TOKENS:\?[^}]+\}", tokens), f"OMS_TOKENS is {tokens!r}, not required from the host"
    assert re.fullmatch(r"\$\{OMS_SESSION_SECRET:\?[^}]+\}", env.get("OMS_SESSION_SECRET", ""))
    assert env.get("OMS_API_HOST") == "0.0.0.0"
    # and its healthcheck asks GET /healthz on the port the API serves
    check = " ".join(argv(api.get("healthcheck", {}).get("test")))
    assert "/healthz" in check
    assert ":8000/" in check


def test_only_the_api_is_published_and_the_ui_only_on_loopback(services: dict[str, dict[str, Any]]) -> None:
    # given every service of the topology
    # when the ports they publish on the host are read
    found = {name: published_ports(service) for name, service in services.items()}
    # then the API is reachable from outside, the UI (no login of its own) only from the host itself, and
    # nothing else: Temporal's gRPC and the databases have no published port
    assert found["oms-api"] == {8000: (8000, "0.0.0.0")}
    assert found["temporal-ui"] == {8233: (8080, "127.0.0.1")}
    assert {name: ports for name, ports in found.items() if ports and name not in ("oms-api", "temporal-ui")} == {}


def test_the_workers_scale_out_and_the_simulators_start_only_on_request(services: dict[str, dict[str, Any]]) -> None:
    # given the OMS services
    # when their deployment settings are read
    replicas = services["oms-worker"].get("deploy", {}).get("replicas")
    profiles = {name: services[name].get("profiles") for name in OMS_SERVICES}
    # then two workers run, and only the simulators sit behind a profile (production uses real partners)
    assert replicas == 2
    assert profiles.pop("oms-simulators") == ["simulators"]
    assert profiles == dict.fromkeys(profiles)


def test_the_oms_services_build_from_the_root_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    # given the services that run OMS code
    # when their build settings are read
    builds = {name: services[name].get("build") for name in OMS_SERVICES}
    # then each builds the Dockerfile at the repository root
    for name, build in builds.items():
        context = build if isinstance(build, str) else (build or {}).get("context")
        dockerfile = "Dockerfile" if isinstance(build, str) else (build or {}).get("dockerfile", "Dockerfile")
        assert context is not None, f"{name} has no build"
        assert (COMPOSE_FILE.parent / context / dockerfile).resolve() == DOCKERFILE, f"{name} builds {build}"
    assert DOCKERFILE.is_file()


def test_every_oms_command_names_an_existing_subcommand(services: dict[str, dict[str, Any]]) -> None:
    # given the commands the compose file and the image's default run
    by_service = {name: oms_subcommand(argv(services[name].get("command"))) for name in OMS_SERVICES}
    default = oms_subcommand(dockerfile_argv())
    # when the `oms` subcommands among them are collected
    used = {command for command in [*by_service.values(), default] if command is not None}
    # then each service runs its part, the image defaults to one, and all exist in the command line
    assert by_service == {
        "oms-migrate": None,
        "oms-api": "api",
        "oms-worker": "worker",
        "oms-relay": "relay",
        "oms-simulators": "simulators",
    }
    assert default in OMS_SUBCOMMANDS, f"the Dockerfile runs {dockerfile_argv()}, not an oms subcommand"
    assert used <= OMS_SUBCOMMANDS
    assert [command for command in sorted(used) if not cli_has_subcommand(command)] == []


def test_the_image_is_python_3_11_slim_without_dev_extras_and_not_root() -> None:
    # given the Dockerfile
    # when its instructions are read
    instructions = dockerfile_instructions()
    bases = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    installs = [arguments for keyword, arguments in instructions if keyword == "RUN" and "pip install" in arguments]
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    # then it builds on python:3.11-slim, installs the project without extras and runs unprivileged
    assert bases and bases[-1].split()[0] == "python:3.11-slim"
    assert any(re.search(r"pip install \.(\s|$)", command) for command in installs), installs
    assert not any("[dev]" in command for command in installs)
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in ("root", "0")
