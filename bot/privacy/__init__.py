"""One person's data found, exported and deleted, and what is no longer kept."""
