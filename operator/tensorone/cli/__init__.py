"""The ``tensorone`` command: one entry point, one sub-command group per concern."""
