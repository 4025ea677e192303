"""Developer tools that do not ship with the assistant: evaluation, the
settings table, the benchmark."""
