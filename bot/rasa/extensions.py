"""Every change this project makes to Rasa's own code, in one registry.

Where Rasa has an extension point the project uses it and patches nothing:
``endpoints.yml`` names ``bot.rasa.tracker_store.SQLTrackerStore`` and the lock
stores of ``bot.rasa.locks`` (which also admit a few messages at a time),
``config.yml`` the project's NLU components and ``bot.rasa.policies.RulePolicy``.
Those classes of ``bot.rasa`` override Rasa's own methods, some of them
private, so each calls ``check_version`` when Rasa builds it, in training as
in serving. What has no extension point is a ``Patch`` below, in the module
of ``bot.rasa`` named after the part of Rasa it changes. ``apply``
installs them once, in this order (a later patch of the same attribute
wraps the earlier one), after checking that the installed Rasa is the one
they were written against; every original is kept, ``original`` hands it to
the replacement, and ``undo`` puts them all back (tests).

Every entry point that runs Rasa goes through ``bot.rasa.server``, which
applies this: ``make run`` and ``make run-cluster`` (``bot serve`` /
``bot cluster``), ``make shell``, ``make train``, the conversation tests
(``rasa test core``), ``tools.evaluate`` and the benchmark.
docs/rasa-extensions.md has the upgrade checklist.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from bot.rasa.version import RASA_VERSION, WrongRasa, check_version


@dataclass(frozen=True)
class Patch:
    """``target`` ("module:Class.attribute" or "module:attribute") is
    replaced by ``replacement`` ("module:name")."""

    target: str
    replacement: str
    why: str
    # Install as a staticmethod (the original is one).
    static: bool = False


PATCHES: tuple[Patch, ...] = (
    Patch("rasa.server:requires_auth", "bot.rasa.api_auth:requires_auth",
          "the HTTP API token only in the Authorization header, compared in "
          "constant time"),
    Patch("rasa.server:ensure_loaded_agent", "bot.rasa.api_ids:ensure_loaded_agent",
          "conversation ids in the API's paths are percent-decoded"),
    Patch("rasa.server:_get_output_channel", "bot.rasa.live_handoff:output_channel",
          "replies from the console reach the provider's id, not the "
          "namespaced conversation id"),
    Patch("rasa.core.processor:MessageProcessor._should_handle_message",
          "bot.rasa.live_handoff:should_handle_message",
          "an emergency gets its advice even while reception has the chat",
          static=True),
    Patch("rasa.core.actions.action:RemoteAction._validate_action_result",
          "bot.rasa.remote_actions:validate_action_result",
          "the response schema checked by a validator built once"),
    Patch("rasa.core.actions.action:RemoteAction._action_call_format",
          "bot.rasa.remote_actions:action_call_format",
          "the action server gets the last 20 user turns, not the session"),
    Patch("rasa.shared.core.events:Event.resolve_by_type",
          "bot.rasa.events:resolve_by_type",
          "an event class found by name is remembered", static=True),
    Patch("rasa.utils.endpoints:EndpointConfig.session",
          "bot.rasa.remote_actions:endpoint_session",
          "one kept-alive HTTP session per endpoint"),
    Patch("rasa.shared.core.trackers:DialogueStateTracker.copy",
          "bot.rasa.trackers:tracker_copy",
          "copies keep the replay caches apart"),
    Patch("rasa.shared.core.trackers:DialogueStateTracker.applied_events",
          "bot.rasa.trackers:applied_events",
          "applied events folded in as they arrive, not recomputed"),
    Patch("rasa.engine.runner.dask:DaskGraphRunner.run",
          "bot.rasa.graph:run_graph",
          "the model graph run in an order worked out once"),
    Patch("rasa.core.processor:copy", "bot.rasa.debug_copies:PROCESSOR_COPY",
          "no deep copies for debug lines that are off"),
    Patch("rasa.core.policies.memoization:copy",
          "bot.rasa.debug_copies:MEMOIZATION_COPY",
          "no deep copies for debug lines that are off"),
    Patch("rasa.core.policies.rule_policy:copy",
          "bot.rasa.debug_copies:RULE_POLICY_COPY",
          "no deep copies for debug lines that are off"),
    Patch("rasa.core.actions.action:RemoteAction.run",
          "bot.rasa.resilience:run_with_deadline",
          "a custom action gets a deadline, then an apology, never silence"),
    # After the deadline: the place is given up while the deadline runs.
    Patch("rasa.core.actions.action:RemoteAction.run",
          "bot.rasa.admission:run_action_without_slot",
          "a slow custom action gives its place up"),
)  # fmt: skip


@dataclass
class _Applied:
    owner: Any
    attribute: str
    # What ``owner.__dict__`` held (a descriptor for a staticmethod), for
    # undo; and what calling code got, for the replacement to call.
    stored: Any
    original: Any
    patch: Patch


_applied: list[_Applied] = []
_originals: dict[str, Any] = {}


def _resolve(path: str) -> tuple[Any, str]:
    module_name, _, dotted = path.partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, attribute = dotted.split(".")
    for name in parents:
        owner = getattr(owner, name)
    return owner, attribute


def _value(path: str) -> Any:
    owner, attribute = _resolve(path)
    return getattr(owner, attribute)


def apply() -> None:
    """Install every patch, once. What the patches are configured with (the
    deadline, the admission limit, the apology's phone) is set by
    ``bot.rasa.install``, so the registry imports nothing of the project."""
    if _applied:
        return
    check_version()
    for patch in PATCHES:
        owner, attribute = _resolve(patch.target)
        stored = vars(owner).get(attribute)
        original = getattr(owner, attribute)
        if stored is None:
            raise WrongRasa(f"{patch.target} is not where Rasa {RASA_VERSION} has it")
        replacement = _value(patch.replacement)
        if patch.static:
            replacement = staticmethod(replacement)
        setattr(owner, attribute, replacement)
        _applied.append(_Applied(owner, attribute, stored, original, patch))
        _originals[patch.replacement] = original


def original(replacement: str) -> Any:
    """What the patch installing ``replacement`` replaced."""
    try:
        return _originals[replacement]
    except KeyError:
        raise LookupError(
            f"{replacement} is not applied; call bot.rasa.extensions.apply()"
        ) from None


def applied() -> bool:
    return bool(_applied)


def undo() -> None:
    """Put back every original, newest patch first."""
    while _applied:
        entry = _applied.pop()
        setattr(entry.owner, entry.attribute, entry.stored)
    _originals.clear()
