"""Print the REST facade's OpenAPI document (JSON) without serving it: the input of the JS SDK's types.

The facade is built exactly as ``tensorone serve`` builds it; its client is pointed at an unreachable cluster
because building the document never talks to Kubernetes.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tensorone.facade.app import create_app
from tensorone.facade.settings import Settings

# A syntactically valid kubeconfig for a cluster that is never contacted.
OFFLINE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters: [{name: offline, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: offline, user: {token: unused}}]
contexts: [{name: offline, context: {cluster: offline, user: offline}}]
current-context: offline
"""


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tensorone-openapi-") as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(OFFLINE_KUBECONFIG)
        document = create_app(Settings(kubeconfig=str(kubeconfig))).openapi()
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
