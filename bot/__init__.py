"""Trigger point dry needling assistant for a physiotherapy clinic."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
