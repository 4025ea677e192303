"""Telling the clinic: email, signed webhook, and the retrying outbox."""
