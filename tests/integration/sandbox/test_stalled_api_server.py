"""The node agent against an API server that stalls (as one under load does): nothing a pod did is lost."""

from __future__ import annotations

import sys
import time

from tensorone.sandbox.testing import RunningSandbox
from tests.integration.sandbox.helpers import Api, pod

# The pod ends after its agent's idle connections have expired (httpx keeps them 5 s), so its reports need a new
# connection, whose TLS handshake a frozen server never answers: the request is never sent. The stall outlasts two
# of the agent's request timeouts (15 s): both reports (container ended, pod ended) are lost.
POD_SECONDS = 8
STALL_SECONDS = POD_SECONDS + 2 * 15 + 4


def test_a_pod_that_ends_while_the_api_server_stalls_is_shown_finished_once_it_answers(
    api: Api, sandbox: RunningSandbox
) -> None:
    api.post(
        api.pods,
        pod("late", [sys.executable, "-c", f"import time; time.sleep({POD_SECONDS}); print('done')"]),
    )
    api.wait_for(
        f"{api.pods}/late", lambda r: r.json().get("status", {}).get("phase") == "Running", timeout=30
    )
    with sandbox.api_server_stalled():
        time.sleep(STALL_SECONDS)  # the pod ends meanwhile; its final status finds no one answering
    done = api.wait_for(
        f"{api.pods}/late",
        lambda r: r.json().get("status", {}).get("phase") in {"Succeeded", "Failed"},
        timeout=30,
    ).json()
    assert done["status"]["phase"] == "Succeeded"
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
