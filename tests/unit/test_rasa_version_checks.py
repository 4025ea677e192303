"""Classes that config.yml and endpoints.yml plug into Rasa refuse another
Rasa when Rasa builds them, in training as in serving: those of bot/rasa/
override Rasa's own methods (some private), which the patch registry's
version check alone would not cover."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import rasa
import yaml
from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.domain import Domain
from rasa.shared.utils.common import class_from_module_path
from rasa.utils.endpoints import EndpointConfig

from bot import PROJECT_ROOT
from bot.rasa import endpoints, version
from bot.settings import load_settings

ANOTHER_RASA = "3.7.0"


def plugged_in() -> dict[str, type]:
    """Every class of ours that config.yml and the generated endpoints.yml
    (one process and with Redis) name."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text())
    names = [
        item["name"]
        for item in config["pipeline"] + config["policies"]
        if "." in item["name"]
    ]
    settings = load_settings()
    names.append(endpoints.tracker_store(settings)["type"])
    for redis_url in (None, "redis://localhost:6379/0"):
        with_redis = dataclasses.replace(settings, redis_url=redis_url)
        names.append(endpoints.lock_store(with_redis)["type"])
    return {name: class_from_module_path(name) for name in dict.fromkeys(names)}


def private_overrides(cls: type) -> list[str]:
    """Methods of ``cls`` that replace a private method of a Rasa base class."""
    rasa_bases = [
        base for base in cls.__mro__[1:] if base.__module__.split(".")[0] == "rasa"
    ]
    return sorted(
        name
        for name, value in vars(cls).items()
        if name.startswith("_")
        and not name.startswith("__")
        and (inspect.isfunction(value) or isinstance(value, staticmethod | classmethod))
        and any(name in vars(base) for base in rasa_bases)
    )


def policy_arguments(tmp_path) -> tuple:
    """What Rasa's graph passes to a policy's ``create`` and ``load``."""
    storage = tmp_path / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    cls = class_from_module_path("bot.rasa.policies.RulePolicy")
    return (
        cls.get_default_config(),
        LocalModelStorage(storage),
        Resource("rule_policy"),
        ExecutionContext(GraphSchema({}), "test"),
    )


def build_policy(tmp_path):
    """RulePolicy the way Rasa's training graph builds it."""
    cls = class_from_module_path("bot.rasa.policies.RulePolicy")
    return cls.create(*policy_arguments(tmp_path))


def build_tracker_store(tmp_path):
    config = EndpointConfig(
        type=endpoints.TRACKER_STORE, dialect="sqlite", db=str(tmp_path / "t.db")
    )
    store = TrackerStore.create(config, Domain.empty())
    store.engine.dispose()
    return store


def build_lock_store(name: str, **kwargs):
    return lambda _tmp_path: LockStore.create(EndpointConfig(type=name, **kwargs))


BUILDERS = {
    "bot.rasa.policies.RulePolicy": build_policy,
    "bot.rasa.tracker_store.SQLTrackerStore": build_tracker_store,
    # Redis is not reached until a lock is taken.
    "bot.rasa.locks.AtomicRedisLockStore": build_lock_store(
        "bot.rasa.locks.AtomicRedisLockStore", url="localhost", port=6379
    ),
    "bot.rasa.locks.AdmittingInMemoryLockStore": build_lock_store(
        "bot.rasa.locks.AdmittingInMemoryLockStore"
    ),
}


def test_only_our_rasa_classes_override_rasas_private_methods():
    overriding = {
        name: private_overrides(cls)
        for name, cls in plugged_in().items()
        if private_overrides(cls)
    }
    assert overriding == {
        "bot.rasa.policies.RulePolicy": [
            "_get_possible_keys",
            "_is_rule_applicable",
            "_prediction_states",
        ],
        "bot.rasa.tracker_store.SQLTrackerStore": ["_additional_events", "_retrieve"],
    }


def test_every_class_of_bot_rasa_that_rasa_builds_is_checked_here():
    ours = {name for name in plugged_in() if name.startswith("bot.rasa.")}
    assert ours == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_built_on_the_pinned_rasa_refused_on_another(name, tmp_path, monkeypatch):
    built = BUILDERS[name](tmp_path)
    assert f"{type(built).__module__}.{type(built).__name__}" == name
    monkeypatch.setattr(rasa, "__version__", ANOTHER_RASA)
    with pytest.raises(version.WrongRasa, match=f"found Rasa {ANOTHER_RASA}"):
        BUILDERS[name](tmp_path / "again")


def test_a_trained_policy_is_not_loaded_by_another_rasa(tmp_path, monkeypatch):
    """``load`` is how a served model builds the policy."""
    arguments = policy_arguments(tmp_path)
    policy = build_policy(tmp_path)
    policy.persist()
    cls = type(policy)
    assert type(cls.load(*arguments)) is cls
    monkeypatch.setattr(rasa, "__version__", ANOTHER_RASA)
    with pytest.raises(version.WrongRasa):
        cls.load(*arguments)


def test_the_overrides_are_listed_in_the_extensions_doc():
    doc = (PROJECT_ROOT / "docs" / "rasa-extensions.md").read_text()
    rows = {line for line in doc.splitlines() if line.startswith("|")}
    for name, cls in plugged_in().items():
        overrides = private_overrides(cls)
        if not overrides:
            continue
        row = next((r for r in rows if f"`{name}`" in r), None)
        assert row is not None, name
        assert all(f"`{method}`" in row for method in overrides), row
        assert "check_version" in row, row


def test_the_rest_channel_is_refused_on_another_rasa(monkeypatch):
    """It overrides RestInput's private ``_extract_*`` methods; Rasa builds
    it from credentials.yml."""
    from bot.channels.rest import ClinicRestInput

    assert isinstance(ClinicRestInput.from_credentials(None), ClinicRestInput)
    monkeypatch.setattr(rasa, "__version__", ANOTHER_RASA)
    with pytest.raises(version.WrongRasa):
        ClinicRestInput.from_credentials(None)
