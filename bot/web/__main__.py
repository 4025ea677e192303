"""``python -m bot.web``: serve the demo page on ``WEB_PORT``."""

from __future__ import annotations

import sys

from bot.web.server import main

if __name__ == "__main__":
    sys.exit(main())
