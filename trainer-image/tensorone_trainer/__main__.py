"""``python -m tensorone_trainer``: the container's entrypoint."""

import sys

from tensorone_trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
