"""The registry of changes to Rasa: checked against the pinned Rasa, every
original kept and put back, applied by every entry point that runs Rasa."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import rasa
import rasa.server
from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.events import Event

from bot import PROJECT_ROOT
from bot.rasa import extensions, version


@pytest.fixture
def fresh():
    """No patch applied; applied again afterwards, as the server runs."""
    extensions.undo()
    yield
    extensions.undo()
    extensions.apply()


def rasa_attributes() -> dict:
    return {
        p.target: vars(extensions._resolve(p.target)[0]).get(
            extensions._resolve(p.target)[1]
        )
        for p in extensions.PATCHES
    }


def test_the_pinned_rasa_is_the_one_installed():
    pinned = re.search(
        r"^rasa\[spacy\]==(\S+)", (PROJECT_ROOT / "requirements.txt").read_text(), re.M
    ) or re.search(
        r"^rasa==(\S+)", (PROJECT_ROOT / "requirements.txt").read_text(), re.M
    )
    assert pinned and pinned.group(1) == version.RASA_VERSION == rasa.__version__


def test_another_rasa_is_refused_with_the_way_forward(fresh, monkeypatch):
    before = rasa_attributes()
    with monkeypatch.context() as patch:
        patch.setattr(rasa, "__version__", "3.7.0")
        with pytest.raises(SystemExit, match="found Rasa 3.7.0.*upgrade checklist"):
            extensions.apply()
    assert rasa_attributes() == before
    assert not extensions.applied()


def test_apply_keeps_every_original_and_undo_puts_them_back(fresh):
    before = rasa_attributes()
    plain_run = RemoteAction.run
    extensions.apply()
    extensions.apply()
    assert rasa.server.requires_auth.__module__ == "bot.rasa.api_auth"
    # Admission is in the lock stores, not a patch of the processor.
    assert MessageProcessor.handle_message.__module__ == "rasa.core.processor"
    # Two patches of one attribute: admission wraps the deadline, which wraps
    # Rasa's own run.
    assert RemoteAction.run.__module__ == "bot.rasa.admission"
    deadline = extensions.original("bot.rasa.admission:run_action_without_slot")
    assert deadline.__module__ == "bot.rasa.resilience"
    assert extensions.original("bot.rasa.resilience:run_with_deadline") is plain_run
    assert Event.resolve_by_type("user").__name__ == "UserUttered"
    assert isinstance(vars(Event)["resolve_by_type"], staticmethod)
    extensions.undo()
    assert rasa_attributes() == before
    assert RemoteAction.run is plain_run
    with pytest.raises(LookupError, match="apply"):
        extensions.original("bot.rasa.resilience:run_with_deadline")


def test_every_patch_has_a_reason_and_a_target_rasa_has():
    for patch in extensions.PATCHES:
        owner, attribute = extensions._resolve(patch.target)
        assert attribute in vars(owner), patch.target
        assert patch.why


def test_extension_points_are_used_where_rasa_has_them():
    """The tracker store and the rule policy come through endpoints.yml and
    config.yml, not patches."""
    from bot.rasa.endpoints import TRACKER_STORE

    targets = " ".join(p.target for p in extensions.PATCHES)
    assert "SQLTrackerStore" not in targets and "RulePolicy" not in targets
    assert TRACKER_STORE == "bot.rasa.tracker_store.SQLTrackerStore"
    assert (
        "name: bot.rasa.policies.RulePolicy"
        in (PROJECT_ROOT / "config.yml").read_text()
    )


@pytest.mark.slow
def test_rasa_commands_run_with_the_extensions():
    """``bot.rasa.server`` is how every entry point runs Rasa (serve, shell,
    training, the conversation tests): it applies the registry before Rasa's
    own command line starts."""
    probe = (
        "import sys, runpy\n"
        "import rasa.__main__ as m\n"
        "from bot.rasa import extensions\n"
        "m.main = lambda: print('applied' if extensions.applied() else 'plain')\n"
        "for argv in (['run'], ['shell'], ['train'], ['test', 'core']):\n"
        "    extensions.undo()\n"
        "    sys.argv = ['bot.rasa.server', *argv, '--help']\n"
        "    runpy.run_module('bot.rasa.server', run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.split() == ["applied"] * 4, result.stderr[-2000:]


def test_the_entry_points_go_through_bot_rasa_server():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert re.search(
        r"^conversations:.*\n\t\$\(PY\) -m bot\.rasa\.server test core", makefile, re.M
    )
    # Training builds the policy with the version checked and the patches in.
    assert re.search(
        r"^\$\(MODEL\):.*\n\t\$\(PY\) -m bot\.rasa\.server train ", makefile, re.M
    )
    assert "$(RASA) train" not in makefile
    serve = (PROJECT_ROOT / "bot/ops/serve.py").read_text()
    assert '"bot.rasa.server", "shell"' in serve
    assert '"-m", "bot.rasa.server", "run"' in serve
