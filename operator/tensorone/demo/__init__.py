"""The demo: the whole platform on one machine, driven through the public API like a user would."""
