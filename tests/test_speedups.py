"""The cached action-result validator accepts and rejects exactly what Rasa's does."""

from __future__ import annotations

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction

from bot import speedups

RESULTS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "x", "value": 1}], "responses": [{}]},
    {"events": [{"event": "action", "name": "action_listen"}]},
    {"events": [{"event": "followup", "name": "utter_greet"}], "responses": []},
    {"events": "not a list"},
    {"events": [{"event": "slot"}]},
    {"events": [{"event": "no_such_event"}]},
    {"responses": ["not an object"]},
    {"events": [{"event": "pause"}, {"event": "resume"}]},
]


@pytest.mark.parametrize("result", RESULTS)
def test_same_verdict_as_rasa(result):
    schema = RemoteAction.action_response_format_spec()
    try:
        jsonschema.validate(result, schema)
        expected = True
    except jsonschema.ValidationError:
        expected = False
    try:
        actual = speedups._validate_action_result(None, result)
    except jsonschema.ValidationError:
        actual = False
    assert actual == expected


def test_apply_replaces_rasas_validator():
    original = RemoteAction._validate_action_result
    try:
        speedups.apply()
        assert RemoteAction._validate_action_result is speedups._validate_action_result
        with pytest.raises(jsonschema.ValidationError):
            RemoteAction._validate_action_result(None, {"events": "x"})
    finally:
        RemoteAction._validate_action_result = original


def test_sqlite_connections_use_write_ahead_logging(tmp_path):
    from sqlalchemy import create_engine, text

    speedups.apply()
    engine = create_engine(f"sqlite:///{tmp_path / 'trackers.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1
    engine.dispose()
