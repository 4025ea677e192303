"""The Rasa server process: what it loads and what it leaves out."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot import PROJECT_ROOT


@pytest.mark.slow
def test_tensorflow_loads_without_jax_in_the_rasa_server():
    probe = (
        "import bot.rasa.server, sys\n"
        "import rasa.core.agent, tensorflow\n"
        "loaded = [m for m in sys.modules if m.startswith(('jax.', 'jaxlib'))]\n"
        "print('rasa' in sys.modules, sys.modules['jax'], len(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "None", "0"]
