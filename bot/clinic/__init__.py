"""The clinic itself: its facts from ``clinic.yml`` and the answers about it."""
