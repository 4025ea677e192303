"""Booking requests: validation of what people type, storage, notification."""
