"""Accounts (tenants) and the namespaces that hold their jobs and datasets.

The facade places each account's objects in the namespace this template names; the sandbox points its
kubeconfig's context at its default account's namespace, so ``kubectl get tj`` shows the jobs that the CLI and
REST API of that account create.
"""

from __future__ import annotations

ACCOUNT_NAMESPACE_TEMPLATE = "tensorone-{account}"
# The account `tensorone sandbox up --with-facade` creates a key for (DIR/api-key).
SANDBOX_ACCOUNT = "default"


def account_namespace(account: str, template: str = ACCOUNT_NAMESPACE_TEMPLATE) -> str:
    """The namespace holding ``account``'s jobs and datasets."""
    return template.format(account=account)
