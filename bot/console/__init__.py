"""Reception's console: staff accounts and, on top of them, the web pages
(live handoff, bookings inbox, what patients ask, privacy requests)."""
