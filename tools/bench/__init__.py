"""``make bench``: our configuration against Rasa's stock one, measured the same way."""
