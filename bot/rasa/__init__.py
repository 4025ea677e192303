"""Everything that plugs into or changes Rasa itself, one module per part of
Rasa it touches: the patch registry (extensions), the tracker store and the
trackers, the rule policy, events, the graph runner, custom action calls,
debug-log copies, lock stores and admission, the HTTP API, the endpoints and
the entry point that runs Rasa with them (docs/rasa-extensions.md)."""
