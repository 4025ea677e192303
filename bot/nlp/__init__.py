"""The project's own spaCy pipeline and the NLU guard component."""
