"""A local stand-in for a Kubernetes cluster, so that every component can be developed and tested without one.

The API server (:mod:`tensorone.sandbox.apiserver`) extends kmock's ``KubernetesEmulator`` with the semantics this
project relies on; the scheduler and node agent bind pods to fake GPU nodes and run their containers as local
processes. :mod:`tensorone.sandbox.runtime` wires them together and :mod:`tensorone.sandbox.testing` offers them
to tests.
"""
