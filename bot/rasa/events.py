"""Rasa's ``Event.resolve_by_type`` with the class found for a type name
remembered (a patch, bot/rasa/extensions.py).

Every stored event is turned back into an object by ``resolve_by_type``,
which walks all Event subclasses (with ``inspect.isabstract``) each time: 6 %
of the server's CPU per message in our profile (docs/production.md,
"Profiling and speed-ups").
"""

from __future__ import annotations

from bot.rasa import extensions

_event_classes: dict[str, type] = {}


def resolve_by_type(type_name, default=None):
    """``Event.resolve_by_type`` with the found class remembered by name."""
    found = _event_classes.get(type_name)
    if found is None:
        found = extensions.original("bot.rasa.events:resolve_by_type")(
            type_name, default
        )
        if found is not None and found is not default:
            _event_classes[type_name] = found
    return found
