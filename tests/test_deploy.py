"""Checks of deploy/ that need neither Docker nor systemd: the files are parsed and cross-checked against the code.

What they refer to must exist: every `aiva` command line (compose services, systemd ExecStart, the Dockerfile's
CMD) resolves to a real subcommand of the typer app, with options it accepts; every AIVA_* name is a Settings
field; the search-attribute commands in deploy/README.md equal workflows/search_attributes.ALL; the Dockerfile
copies what `pip install .` needs and installs the Debian libraries weasyprint loads. The units get
`systemd-analyze verify` where that tool exists.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pytest
import typer.main
import yaml
from pydantic import ValidationError
from temporalio.common import SearchAttributeKey

from aiva.settings import Settings
from workflows.search_attributes import ALL

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
ENV_EXAMPLE = DEPLOY / "aiva.env.example"
README = DEPLOY / "README.md"
WORKER_UNIT = DEPLOY / "systemd" / "aiva-worker@.service"
API_UNIT = DEPLOY / "systemd" / "aiva-api.service"
PRUNE_UNIT = DEPLOY / "systemd" / "aiva-inbox-prune.service"
PRUNE_TIMER = DEPLOY / "systemd" / "aiva-inbox-prune.timer"
VENV_AIVA = "/opt/aiva/.venv/bin/aiva"
BASE_IMAGE = "python:3.11-slim-bookworm"

# Read by the test suite only, never by a deployed process, so none may appear in deploy/.
TEST_ONLY_VARIABLES = frozenset({"AIVA_TEST_DATABASE_URL", "AIVA_TEST_REDIS_URL", "AIVA_CORPUS_DIR",
                                 "AIVA_RECORD_HISTORIES"})
# Settings whose defaults suit one development machine only; a production install must set each.
NO_SAFE_DEFAULT = ("database_url", "redis_url", "secret_hash_key", "temporal_address")
# What weasyprint dlopen()s on Debian (pango, pangoft2, harfbuzz), plus fonts for Latin and CJK text.
WEASYPRINT_DEBS = frozenset({"libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz0b", "fonts-dejavu-core",
                             "fonts-noto-cjk"})
# Modules that register extra commands on the typer app when imported (starter.cli.main imports them).
COMMAND_MODULES = ("starter.cli_intel",)
# A command whose module may not exist yet: its check skips, naming the module, until it does.
OPTIONAL_COMMAND_MODULES: dict[tuple[str, ...], str] = {("api", "serve"): "starter.cli_api"}
# Commands another change is adding right now: their check skips, saying so, until they are registered.
PENDING_COMMANDS: dict[tuple[str, ...], str] = {
    ("setup-temporal",): "`aiva setup-temporal` (starter/temporal_setup.py) is not registered yet",
}
# temporalio's SearchAttributeIndexedValueType names -> the Temporal CLI's --type values.
CLI_TYPES = {"TEXT": "Text", "KEYWORD": "Keyword", "INT": "Int", "DOUBLE": "Double", "BOOL": "Bool",
             "DATETIME": "Datetime", "KEYWORD_LIST": "KeywordList"}
AIVA_VARIABLE = re.compile(r"\bAIVA_[A-Z0-9_]+")


# ---------------------------------------------------------------- readers


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file has no services"
    return data


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def _is_aiva_service(svc: dict[str, Any]) -> bool:
    return "build" in svc or str(svc.get("image", "")).startswith("aiva:")


def _argv(command: Any) -> list[str]:
    """A compose `command` (string or list) as argv."""
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _environment(svc: dict[str, Any]) -> dict[str, str]:
    """A service's environment as written (compose ${...} interpolation left in place)."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _interpolated(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with a stand-in value, so URLs can be parsed."""
    def one(m: re.Match[str]) -> str:
        return m.group(3) if m.group(2) in ("-", ":-") else "set-by-operator"
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}", one, value)


def _env_example() -> tuple[dict[str, str], set[str]]:
    """(assignments, names that appear only in commented-out assignments) of aiva.env.example."""
    values: dict[str, str] = {}
    commented: set[str] = set()
    for n, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            m = re.match(r"#\s*(AIVA_[A-Z0-9_]+)=", line)
            if m:
                commented.add(m.group(1))
            continue
        # Plain KEY=VALUE: the one format both systemd's EnvironmentFile= and compose's env_file read alike.
        m = re.fullmatch(r"([A-Z][A-Z0-9_]*)=([^\s\"'][^\"']*?)?", line)
        assert m, f"aiva.env.example:{n}: not a plain KEY=VALUE line (no quotes, export or spaces): {line!r}"
        assert m.group(1) not in values, f"aiva.env.example:{n}: {m.group(1)} assigned twice"
        values[m.group(1)] = m.group(2) or ""
    return values, commented - set(values)


@dataclass(frozen=True)
class Unit:
    """A systemd unit file: every key's values, in order, across sections."""

    path: Path
    keys: dict[str, list[str]]

    def one(self, key: str) -> str:
        """The only value of a key that must appear once."""
        values = self.keys.get(key, [])
        assert len(values) == 1, f"{self.path.name}: expected one {key}=, found {values}"
        return values[0]


def _unit(path: Path) -> Unit:
    keys: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line!r}"
        keys.setdefault(key.strip(), []).append(value.strip())
    return Unit(path, keys)


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        instruction, _, args = full.partition(" ")
        out.append((instruction.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def _seconds(text: str) -> float:
    """'60', '60s', '1min', '1m30s', '500ms' (systemd and compose durations) -> seconds."""
    units = {"": 1.0, "s": 1.0, "sec": 1.0, "ms": 0.001, "m": 60.0, "min": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", text.strip())
    assert parts and "".join(n + u for n, u in parts) == re.sub(r"\s", "", text), f"unreadable duration {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


def _graceful_shutdown_s() -> float:
    """The worker's graceful shutdown timeout (worker.GRACEFUL_SHUTDOWN, what build_worker passes)."""
    from worker import GRACEFUL_SHUTDOWN

    return GRACEFUL_SHUTDOWN.total_seconds()


def _settings_env_names() -> set[str]:
    """The environment variable of every Settings field (upper-cased: pydantic-settings matches case-insensitively)."""
    assert not Settings.model_config.get("case_sensitive", False), "Settings became case-sensitive; update this test"
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add(f"{prefix}{name}".upper())
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.update(c.upper() for c in getattr(alias, "choices", []) if isinstance(c, str))
    return names


def _deploy_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file())


# ---------------------------------------------------------------- the CLI


def _cli() -> Any:
    """The click group behind `aiva`, with every command module imported (typer vendors its own click)."""
    import starter.cli

    for module in COMMAND_MODULES:
        importlib.import_module(module)
    for module in set(OPTIONAL_COMMAND_MODULES.values()):
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    group = typer.main.get_command(starter.cli.app)
    assert hasattr(group, "commands"), "the aiva app is a single command, not a group"
    return group


def _resolve(argv: list[str]) -> tuple[Any, list[str], list[str]]:
    """(command, its path, the remaining arguments) for `aiva ARGV`; LookupError when no such command."""
    cmd: Any = _cli()
    path: list[str] = []
    rest = list(argv)
    while hasattr(cmd, "commands") and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        if name not in cmd.commands:
            raise LookupError(f"`aiva {' '.join([*path, name])}` is not a command "
                              f"(known here: {', '.join(sorted(cmd.commands))})")
        path.append(name)
        cmd = cmd.commands[name]
    if hasattr(cmd, "commands"):
        raise LookupError(f"`aiva {' '.join(path)}` is a command group, not a command")
    return cmd, path, rest


def _command_lines() -> Iterator[tuple[str, list[str]]]:
    """(where, argv after `aiva`) for every AIVA process deploy/ starts."""
    # Content problems surface in the tests (an empty argv fails there), not as collection errors.
    for name, svc in _services().items():
        if _is_aiva_service(svc):
            yield f"compose:{name}", _argv(svc.get("command") or [])
    for path in (WORKER_UNIT, API_UNIT, PRUNE_UNIT):
        # The executable itself is test_systemd_units' business.
        yield f"systemd:{path.name}", shlex.split(" ".join(_unit(path).keys.get("ExecStart", [])))[1:]
    cmd = dict(_dockerfile()).get("CMD")
    yield "Dockerfile:CMD", yaml.safe_load(cmd) if cmd else []


COMMAND_LINES = list(_command_lines())


@pytest.mark.parametrize(("where", "argv"), COMMAND_LINES, ids=[w for w, _ in COMMAND_LINES])
def test_command_is_a_real_aiva_subcommand(where: str, argv: list[str]) -> None:
    """The command exists in the typer app and parses the given options (types and ranges included)."""
    assert argv, f"{where}: empty command"
    for prefix, module in OPTIONAL_COMMAND_MODULES.items():
        if tuple(argv[:len(prefix)]) == prefix and importlib.util.find_spec(module) is None:
            pytest.skip(f"{where}: `aiva {' '.join(prefix)}` lives in {module}, which does not exist yet")
    try:
        cmd, path, rest = _resolve(argv)
    except LookupError as e:
        for prefix, reason in PENDING_COMMANDS.items():
            if tuple(argv[:len(prefix)]) == prefix:
                pytest.skip(f"{where}: {reason}")
        pytest.fail(f"{where}: {e}")
    options = {o for p in cmd.params if getattr(p, "param_type_name", "") == "option"
               for o in (*p.opts, *p.secondary_opts)}
    for token in rest:
        if token.startswith("--"):
            assert token.split("=", 1)[0] in options, \
                f"{where}: `aiva {' '.join(path)}` has no option {token} (it has {sorted(options)})"
    try:
        cmd.make_context(f"aiva {' '.join(path)}", list(rest))
    except Exception as e:  # click's usage errors: a bad value, a missing argument
        pytest.fail(f"{where}: `aiva {' '.join(argv)}` does not parse: {e}")


def test_every_deployed_process_is_checked() -> None:
    """The parametrized check above covers every process deploy/README.md describes (a renamed one cannot hide)."""
    where = {w: argv for w, argv in COMMAND_LINES}
    assert where.get("compose:aiva-migrate") == ["migrate"]
    assert where.get("compose:aiva-setup-temporal") == ["setup-temporal"]
    assert where.get("compose:aiva-worker") == ["worker"]
    assert where.get("compose:aiva-api", [])[:2] == ["api", "serve"]
    assert where.get("systemd:aiva-worker@.service") == ["worker"]
    assert where.get("systemd:aiva-api.service", [])[:2] == ["api", "serve"]
    assert where.get("systemd:aiva-inbox-prune.service", [])[:2] == ["inbox", "prune"]
    assert where.get("Dockerfile:CMD") == ["worker"]


def test_inbox_prune_timer() -> None:
    """The prune is a oneshot as the API's user with the API's env and inbox, started by a daily timer."""
    unit, timer, api = _unit(PRUNE_UNIT), _unit(PRUNE_TIMER), _unit(API_UNIT)
    assert unit.one("Type") == "oneshot"
    assert shlex.split(unit.one("ExecStart"))[:3] == [VENV_AIVA, "inbox", "prune"]
    for key in ("User", "EnvironmentFile", "ReadWritePaths"):
        assert unit.keys.get(key) == api.keys.get(key), f"aiva-inbox-prune.service: {key} differs from the API's"
    assert timer.one("OnCalendar") and timer.keys.get("Persistent") == ["true"]
    # a timer starts the service of its own name unless Unit= says otherwise
    assert timer.keys.get("Unit", [PRUNE_UNIT.name]) == [PRUNE_UNIT.name]


# ---------------------------------------------------------------- AIVA_* names


def test_every_aiva_variable_in_deploy_is_a_settings_field() -> None:
    """Anywhere in deploy/: a name that is not a Settings field would be silently ignored by AIVA."""
    fields = _settings_env_names()
    assert TEST_ONLY_VARIABLES.isdisjoint(fields), "a test-only variable became a Settings field: update the list"
    found: dict[str, set[str]] = {}
    for path in _deploy_files():
        for name in AIVA_VARIABLE.findall(path.read_text(errors="replace")):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    assert len(found) >= 10, f"suspiciously few AIVA_* names found in deploy/: {sorted(found)}"
    leaked = {n: sorted(w) for n, w in found.items() if n in TEST_ONLY_VARIABLES}
    assert not leaked, f"test-only variables in deploy/: {leaked}"
    unknown = {}
    for name, where in found.items():
        # `AIVA_API_`-style prefixes (README prose) must at least start some field's name.
        ok = any(f.startswith(name) for f in fields) if name.endswith("_") else name in fields
        if not ok:
            unknown[name] = sorted(where)
    assert not unknown, f"not fields of aiva.settings.Settings: {unknown}"


def test_env_example_sets_what_has_no_safe_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each such field is assigned; read from the environment, the values pass Settings' validators; the secret
    key is left empty, so an unedited copy is refused at start instead of running with a known key."""
    values, _ = _env_example()
    prefix = str(Settings.model_config.get("env_prefix", ""))
    for name in NO_SAFE_DEFAULT:
        assert name in Settings.model_fields, f"Settings has no field {name!r} any more: update NO_SAFE_DEFAULT"
        assert f"{prefix}{name}".upper() in values, f"aiva.env.example does not set {prefix}{name.upper()}"

    def settings_from(env: dict[str, str]) -> Settings:
        """Settings exactly as a process started with this environment (and no .env file) builds them."""
        for var in list(os.environ):
            if var.upper().startswith(prefix.upper()):
                monkeypatch.delenv(var)
        for var, value in env.items():
            monkeypatch.setenv(var, value)
        return Settings(_env_file=None)

    assert values["AIVA_SECRET_HASH_KEY"] == "", "aiva.env.example must leave AIVA_SECRET_HASH_KEY empty"
    with pytest.raises(ValidationError, match="AIVA_SECRET_HASH_KEY"):
        settings_from(values)
    s = settings_from({**values, "AIVA_SECRET_HASH_KEY": "x" * 32})
    defaults = settings_from({})
    for name in (n for n in NO_SAFE_DEFAULT if n != "secret_hash_key"):  # the key was checked above
        assert getattr(s, name) != getattr(defaults, name), f"aiva.env.example leaves {name} at its default"
    assert s.database_url and urlparse(s.database_url).scheme in ("postgres", "postgresql")


def test_readme_table_matches_env_example() -> None:
    """The README's table of production variables and aiva.env.example list the same settings."""
    values, commented = _env_example()
    text = README.read_text()
    table = text[text.index("## Environment variables a production deployment sets"):]
    in_table = {n for line in table.splitlines() if line.startswith("| `AIVA_")
                for n in AIVA_VARIABLE.findall(line.split("|")[1])}
    assert in_table, "deploy/README.md has no table of environment variables"
    listed = set(values) | commented
    assert in_table <= listed, f"in the README table only: {sorted(in_table - listed)}"
    unlisted = set(values) - in_table
    assert not unlisted, f"set by aiva.env.example, missing from the README table: {sorted(unlisted)}"


# ---------------------------------------------------------------- Temporal search attributes


def test_readme_search_attribute_commands_match_the_code() -> None:
    """Exactly one create command per attribute of workflows/search_attributes.ALL, with its type."""
    keys: list[SearchAttributeKey[Any]] = list(ALL)  # type: ignore[arg-type]  # ALL mixes value types
    expected = sorted((k.name, CLI_TYPES[k.indexed_value_type.name]) for k in keys)
    found: list[tuple[str, str]] = []
    namespaces: set[str] = set()
    for line in README.read_text().splitlines():
        if not re.match(r"\s*temporal operator search-attribute create\s", line):
            continue  # prose that mentions the command
        args = shlex.split(line.split("search-attribute create", 1)[1])
        opts: dict[str, list[str]] = {}
        for flag, value in zip(args[::2], args[1::2], strict=True):
            opts.setdefault(flag, []).append(value)
        assert len(opts.get("--type", [])) == 1, f"one --type per command: {line.strip()}"
        found += [(n, opts["--type"][0]) for n in opts.get("--name", [])]
        namespaces.update(opts.get("--namespace", []))
    assert sorted(found) == expected, f"README commands {sorted(found)} != search_attributes.ALL {expected}"
    values, _ = _env_example()
    assert namespaces == {values["AIVA_TEMPORAL_NAMESPACE"]}, \
        f"README commands use namespace(s) {namespaces}, aiva.env.example {values['AIVA_TEMPORAL_NAMESPACE']}"


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile() -> None:
    """Multi-stage on the slim bookworm base, `pip install .` of what it copies, weasyprint's libraries, non-root."""
    instructions = _dockerfile()
    froms = [i for i, (ins, _) in enumerate(instructions) if ins == "FROM"]
    assert len(froms) >= 2, "not a multi-stage build"
    for i in froms:
        assert instructions[i][1].split()[0] == BASE_IMAGE, f"FROM {instructions[i][1]}: expected {BASE_IMAGE}"
    final = instructions[froms[-1]:]
    runs = [args for ins, args in instructions if ins == "RUN"]
    assert any(re.search(r"pip install\b.*\s[\"']?\.(\$\{[^}]*\}|\[[^\]]*\])?[\"']?(\s|$)", r) for r in runs), \
        "no `pip install .` of the project"
    # What the install reads must be copied into the build context's stage.
    copied: set[str] = set()
    for ins, args in instructions:
        if ins == "COPY" and "--from" not in args:
            *sources, _dest = shlex.split(args)
            for src in sources:
                assert (ROOT / src).exists(), f"COPY {src}: no such path in the project"
                copied.add(PurePosixPath(src).parts[0])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", pyproject["project"]["readme"]}
    needed |= {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed |= {f"{m}.py" for m in pyproject["tool"]["setuptools"].get("py-modules", [])}
    assert needed <= copied, f"`pip install .` needs {sorted(needed - copied)}, which the Dockerfile does not copy"
    apt = " ".join(args for ins, args in final if ins == "RUN" and "apt-get install" in args)
    missing = WEASYPRINT_DEBS - set(apt.split())
    assert not missing, f"the runtime stage does not install {sorted(missing)}"
    users = [args for ins, args in final if ins == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the runtime stage runs as root"
    assert [ins for ins, _ in final].index("USER") < [ins for ins, _ in final].index("ENTRYPOINT")
    last = {ins: args for ins, args in final}
    assert yaml.safe_load(last["ENTRYPOINT"]) == ["aiva"], f"ENTRYPOINT {last['ENTRYPOINT']}"
    assert yaml.safe_load(last["CMD"]) == ["worker"], f"CMD {last['CMD']}"
    # The worker drains on docker stop's SIGTERM (tests/workflows/test_worker_signals.py): no override.
    assert last.get("STOPSIGNAL", "SIGTERM") == "SIGTERM", "the worker drains on SIGTERM: keep docker's default"
    for ins, args in instructions:
        if ins == "HEALTHCHECK" and args.upper() != "NONE":
            probe = yaml.safe_load(args.split("CMD", 1)[1].strip())
            assert probe[0] == "aiva", f"HEALTHCHECK {args}: not an aiva command"
            _resolve(probe[1:])


# ---------------------------------------------------------------- docker-compose.yml


def test_compose_topology() -> None:
    """Services, pinned images, Temporal's PostgreSQL persistence, and the URLs pointing at those services."""
    services = _services()
    for name in ("postgresql", "temporal", "temporal-ui", "redis", "aiva-migrate", "aiva-setup-temporal",
                 "aiva-worker", "aiva-api"):
        assert name in services, f"compose has no service {name}"
    for name, svc in services.items():
        image = str(svc.get("image", ""))
        assert re.search(r":\d+(\.\d+)+(-[\w.]+)?$", image), f"{name}: image {image!r} is not pinned to a version"
    assert int(services["postgresql"]["image"].split(":")[1].split(".")[0]) >= 14, "AIVA needs PostgreSQL >= 14"
    assert services["temporal"]["image"].startswith("temporalio/auto-setup:")
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    t_env = _environment(services["temporal"])
    assert t_env.get("DB") == "postgres12"
    assert {"DB_PORT", "POSTGRES_USER", "POSTGRES_PWD", "POSTGRES_SEEDS"} <= set(t_env), sorted(t_env)
    assert t_env["POSTGRES_SEEDS"] in services, "POSTGRES_SEEDS is not the compose PostgreSQL service"
    assert _environment(services["temporal-ui"]).get("TEMPORAL_ADDRESS") == "temporal:7233"
    for name, svc in services.items():
        if not _is_aiva_service(svc):
            continue
        env = _environment(svc)
        for var in ("AIVA_DATABASE_URL", "AIVA_REDIS_URL"):
            host = urlparse(_interpolated(env[var])).hostname
            assert host in services, f"{name}: {var} points at {host}, not a compose service"
        assert env["AIVA_TEMPORAL_ADDRESS"].rpartition(":")[0] in services, f"{name}: Temporal is not a service"
        assert env["AIVA_TEMPORAL_NAMESPACE"] == t_env.get("DEFAULT_NAMESPACE"), \
            f"{name}: AIVA_TEMPORAL_NAMESPACE is not the namespace auto-setup creates"
        # Required variable: compose refuses to start without it instead of using the public dev key.
        assert re.fullmatch(r"\$\{AIVA_SECRET_HASH_KEY:\?[^}]+\}", env.get("AIVA_SECRET_HASH_KEY", "")), \
            f"{name}: AIVA_SECRET_HASH_KEY must be ${{AIVA_SECRET_HASH_KEY:?message}}"


def test_compose_dependencies_and_healthchecks() -> None:
    """Health conditions wait on real probes; completion conditions wait on one-shot services."""
    services = _services()
    probes = {name: " ".join(_argv(svc["healthcheck"]["test"])) for name, svc in services.items()
              if "healthcheck" in svc}
    assert "pg_isready" in probes.get("postgresql", ""), "PostgreSQL's healthcheck is not pg_isready"
    assert "redis-cli ping" in probes.get("redis", ""), "Redis's healthcheck is not redis-cli ping"
    if "aiva-api" in probes:
        api_env = _environment(services["aiva-api"])
        m = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", probes["aiva-api"])
        assert m, f"aiva-api healthcheck probes no local URL: {probes['aiva-api']}"
        assert m.group(1) == api_env.get("AIVA_API_PORT", str(Settings.model_fields["api_port"].default))
        assert f'"{m.group(2)}"' in (ROOT / "starter" / "api.py").read_text(), f"the API has no {m.group(2)} route"
    conditions = 0
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for dep, spec in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
            assert dep in services, f"{name} depends on unknown service {dep}"
            cond = (spec or {}).get("condition", "service_started")
            conditions += 1
            if cond == "service_healthy":
                assert dep in probes, f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
            elif cond == "service_completed_successfully":
                assert str(services[dep].get("restart", "no")) == "no", f"{dep} is awaited to exit but restarts"
    assert conditions >= 8, "the services barely wait for one another"
    for one_shot in ("aiva-migrate", "aiva-setup-temporal"):
        for waiter in ("aiva-worker", "aiva-api"):
            assert services[waiter]["depends_on"][one_shot]["condition"] == "service_completed_successfully"


def test_compose_workers_scale_and_share_storage_with_the_api() -> None:
    """Scalable workers that drain on stop, and one volume, at one path, holding the reports and the inbox."""
    services = _services()
    worker, api = services["aiva-worker"], services["aiva-api"]
    assert "ports" not in worker and "container_name" not in worker, "fixed ports/names break --scale"
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM", "the worker drains on SIGTERM: keep the default"
    assert _seconds(str(worker.get("stop_grace_period", "10s"))) > _graceful_shutdown_s()

    def mounts(svc: dict[str, Any]) -> dict[str, str]:
        out = {}
        for v in svc.get("volumes", []):
            source, target = (v.split(":")[:2] if isinstance(v, str) else (v["source"], v["target"]))
            out[target] = source
        return out

    named = set(_compose().get("volumes") or {})
    shared = {t: s for t, s in mounts(worker).items() if mounts(api).get(t) == s and s in named}
    assert shared, "the workers and the API share no named volume at the same path"
    for svc_name in ("aiva-worker", "aiva-api"):
        env = _environment(services[svc_name])
        for var in ("AIVA_REPORTS_DIR", "AIVA_API_INBOX_DIR"):
            path = PurePosixPath(env[var])
            assert any(path.is_relative_to(t) for t in shared), f"{svc_name}: {var}={path} is not on the shared volume"


# ---------------------------------------------------------------- systemd


def test_systemd_units() -> None:
    """venv ExecStart, the env file, restart, SIGTERM stop with time to drain, writable AIVA paths under hardening."""
    values, _ = _env_example()
    for path, argv in ((WORKER_UNIT, ["worker"]), (API_UNIT, ["api", "serve"])):
        unit = _unit(path)
        assert shlex.split(unit.one("ExecStart"))[:1 + len(argv)] == [VENV_AIVA, *argv]
        assert "/etc/aiva/aiva.env" in unit.keys.get("EnvironmentFile", []), f"{path.name}: no required env file"
        assert unit.one("Restart") == "on-failure"
        assert unit.one("User") not in ("root", "0")
        assert unit.keys.get("KillSignal", ["SIGTERM"]) == ["SIGTERM"], f"{path.name}: keep systemd's SIGTERM"
        assert _seconds(unit.one("TimeoutStopSec")) > _graceful_shutdown_s(), f"{path.name}: stops before draining"
        if unit.keys.get("ProtectSystem") == ["strict"]:
            writable = [PurePosixPath(p.lstrip("-+")) for v in unit.keys.get("ReadWritePaths", []) for p in v.split()]
            writable += [PurePosixPath("/var/lib") / d for v in unit.keys.get("StateDirectory", []) for d in v.split()]
            for var in ("AIVA_HOME", "AIVA_REPORTS_DIR", "AIVA_API_INBOX_DIR"):
                target = PurePosixPath(values[var])
                assert any(target.is_relative_to(w) for w in writable), \
                    f"{path.name}: {var}={target} is read-only under ProtectSystem=strict"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify() -> None:
    """systemd itself accepts every key and value (the only allowed complaint: AIVA is not installed here)."""
    proc = subprocess.run(["systemd-analyze", "verify", str(WORKER_UNIT), str(API_UNIT), str(PRUNE_UNIT),
                           str(PRUNE_TIMER)],
                          capture_output=True, text=True, timeout=60, check=False)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines()
             if "aiva-" in line and not (f"Command {VENV_AIVA} is not executable" in line
                                         and not Path(VENV_AIVA).exists())]
    assert not lines, "systemd-analyze verify:\n" + "\n".join(lines)
