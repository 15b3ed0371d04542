"""What a worker pod's reporting relay and its trainer share (see :mod:`tensorone.api.reporting`).

Standard library only: the trainer's lightest processes (its launcher, test stand-ins started with ``python -S``)
import it before anything else.
"""

REPORT_RELAY_PORT = 9471
"""The relay's port on the pod's loopback interface (each pod has its own network namespace)."""
TRAINER_ALIVE_ADDRESS = "\0tensorone.ai/trainer-alive"
"""Abstract Unix datagram socket the trainer binds while it runs (a leading NUL: no file, gone with the process)."""
