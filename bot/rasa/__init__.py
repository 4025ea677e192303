"""Everything that plugs into or changes Rasa itself: the patch registry and
the patches, the tracker and lock stores, the policy, the endpoints and the
entry point that runs Rasa with them."""
