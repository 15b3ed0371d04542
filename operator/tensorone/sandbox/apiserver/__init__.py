"""The sandbox API server: kmock's KubernetesEmulator extended to the Kubernetes semantics this project uses.

Each concern lives in its own module (selectors, patching, schema validation, storage, discovery, tables) so it
can be unit-tested without HTTP; :mod:`.server` only routes requests to them.
"""
