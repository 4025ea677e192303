"""The README's settings table lists every variable the code reads, with
the right defaults, and is what ``tools.settings_table`` generates."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from tools.settings_table import README, VARIABLES, main, table, with_table

# What the processes themselves need, not the assistant's settings.
PROCESS = {"PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TZ", "USER"}
READERS = {"get", "getenv", "_env", "secret", "_port", "_whole_number",
           "_seconds", "_choice", "_all_set"}  # fmt: skip
NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")


def names_read(path: Path) -> dict[str, set[str]]:
    """Variable names passed to an environment reader, by reader."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        reader = (
            func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        )
        if reader not in READERS:
            continue
        if reader == "get" and not (
            isinstance(func, ast.Attribute) and "environ" in ast.unparse(func.value)
        ):
            continue
        arguments = node.args if reader == "_all_set" else node.args[:1]
        for arg in arguments:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if NAME.match(arg.value):
                    found.setdefault(reader, set()).add(arg.value)
    return found


def code_files() -> list[Path]:
    return sorted(
        p
        for folder in ("bot", "actions", "rasa_sdk_plugins")
        for p in (PROJECT_ROOT / folder).rglob("*.py")
    )


def test_every_variable_the_code_reads_is_in_the_table():
    read = set()
    for path in code_files():
        for names in names_read(path).values():
            read |= names
    documented = {v.name for v in VARIABLES}
    assert read - PROCESS - documented == set()
    assert documented - read == set(), "documented but never read"


def test_the_secrets_that_may_come_from_files_are_marked():
    from_files = set()
    for path in code_files():
        from_files |= names_read(path).get("secret", set())
    assert {v.name for v in VARIABLES if v.secret} == from_files


@pytest.mark.parametrize(
    "name, expected",
    [("RASA_PORT", 5005), ("MAX_CONCURRENT_MESSAGES", 3),
     ("ACTION_TIMEOUT_SECONDS", 1.5), ("FLOOD_PER_ADDRESS", 30),
     ("CLUSTER_POSTGRES_PORT", 55433), ("OUTBOX_RETRY_SECONDS", 60)],
)  # fmt: skip
def test_the_defaults_shown_are_the_ones_used(monkeypatch, name, expected):
    from dataclasses import fields

    from bot.settings import load_settings

    for v in VARIABLES:
        monkeypatch.delenv(v.name, raising=False)
    settings = load_settings()
    shown = next(v.default for v in VARIABLES if v.name == name)
    assert float(shown) == expected
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    assert expected in values.values()


def test_the_readme_holds_the_generated_table():
    assert table() in README.read_text(encoding="utf-8")
    assert main(["--check"]) == 0


def test_a_stale_table_is_found_and_rewritten(tmp_path, monkeypatch):
    stale = tmp_path / "README.md"
    stale.write_text(
        "# x\n<!-- settings-table:start -->\n| old |\n"
        "<!-- settings-table:end -->\nend\n"
    )
    monkeypatch.setattr("tools.settings_table.README", stale)
    assert main(["--check"]) == 1
    assert main([]) == 0
    assert stale.read_text() == with_table(stale.read_text())
    assert "| `RASA_PORT` = `5005` |" in stale.read_text()
    assert main(["--check"]) == 0


def test_only_bot_settings_reads_the_environment():
    """One configuration path: other modules get a ``Settings``, or (Rasa
    builds the channels itself) ask ``bot.settings.secret``; none reads the
    environment for a setting of its own."""
    elsewhere = {}
    for path in code_files():
        if path == PROJECT_ROOT / "bot" / "settings.py":
            continue
        read = names_read(path)
        names = read.get("get", set()) | read.get("getenv", set())
        if names - PROCESS:
            elsewhere[str(path.relative_to(PROJECT_ROOT))] = sorted(names - PROCESS)
    assert elsewhere == {}
