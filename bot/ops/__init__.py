"""Running the system: the process supervisor, ``bot serve`` and ``bot
cluster``, private files and logs, local ports and databases."""
