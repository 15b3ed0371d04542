"""``python -m tensorone`` runs the CLI."""

from tensorone.cli.main import main

main()
