"""Adversarial tests: what an attacker with real client libraries tries."""
