"""Nothing in a worker pod can touch billing, phase or another job: real custom code in a real worker tries.

The attacker's ``train(context)`` (``attacker_code.py``) searches everything it can reach for tokens (finding none:
the pod's reporting relay holds the only one, as another user) and URLs, patches its own and a neighbour job's
status through the Kubernetes API, and forges reports (phase, usage, cost, the neighbour's name, NaN, an oversize
body) through its pod's relay and straight to the operator. The test shows each attempt refused and without effect, as a
user sees it through the REST API: phase follows the pods, cost keeps accruing, the neighbour is untouched, and
the attacker's own honest progress, metrics and checkpoint still arrive.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from tensorone.sdk.models import TrainingJob

from .conftest import Platform, until

ATTACKER = (Path(__file__).with_name("attacker_code.py")).read_text()
# Long enough to still run when the attacker has finished on a busy machine (the test stops it at the end).
VICTIM_CODE = """
import time

def train(context):
    context.set_total_steps(750)
    for step in range(1, 751):
        if context.should_stop():
            return
        context.report(step=step, loss=1.0 / step)
        time.sleep(0.4)
"""
FORGED_STEP = 999999


def _results(platform: Platform, job_id: str) -> dict[str, Any] | None:
    for line in platform.client.training.jobs.logs(job_id).splitlines():
        if "ATTACK-RESULTS " in line:
            loaded: dict[str, Any] = json.loads(line.split("ATTACK-RESULTS ", 1)[1])
            return loaded
    return None


def _cost(job: TrainingJob) -> float:
    return job.resource_usage.cost


def test_custom_code_cannot_write_status_bill_or_phase_nor_touch_another_job(platform: Platform) -> None:
    data = platform.dataset_volume / "custom" / "train.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text('{"text": "x"}\n')
    client = platform.client
    dataset = client.datasets.create(name="custom", format="jsonl", source="/datasets/custom/train.jsonl")

    victim = client.training.jobs.create(
        name="victim", model_type="custom", dataset_id=dataset.id, gpu_type="a100",
        config={"customCode": VICTIM_CODE},
    )  # fmt: skip
    platform.wait_job(victim.id, lambda j: j.progress.current_step >= 1, "the victim's first report")
    victim_name = victim.id.replace("_", "-")
    endpoint = yaml.safe_load(platform.settings.read_text())["reportUrl"]
    attacker = client.training.jobs.create(
        name="attacker", model_type="custom", dataset_id=dataset.id, gpu_type="a100",
        config={"customCode": ATTACKER.replace("@VICTIM@", victim_name).replace("@ENDPOINT@", endpoint)},
    )  # fmt: skip
    results = until("the attacker's results", lambda: _results(platform, attacker.id), timeout=240)

    # Its search of every file it can reach (the secret folders, its mounts, the machine folders behind them, other
    # processes' mounts and environments) found no token of this platform: the pod's relay holds the only one, as
    # another user, and the node's pod folders are hidden. (Tokens that other programs on this machine leave
    # readable may turn up; each is refused below like any stranger's.)
    assert results["searchedFiles"] > 0
    assert results["processes"]["seen"] > 0
    node_folders = [root for root in results["searchedRoots"] if root.startswith(str(platform.sandbox.dir))]
    assert any("/pods/" in root for root in node_folders), results["searchedRoots"]
    assert not [p for p in results["tokens"] if p.startswith(str(platform.sandbox.dir))], results["tokens"]
    assert results["reportUrls"] >= 1
    # Kubernetes API: without a credential it is anonymous (403); with any token found, unauthenticated (401).
    assert results["api"]
    for attempt, code in results["api"].items():
        assert code == (403 if attempt.startswith("none ") else 401), (attempt, code)
    reports = results["reports"]
    # Through the pod's report URL (its relay adds the pod's token): forged fields are refused, naming them; the
    # victim can be named nowhere.
    found = reports["found with no token"]
    for field in ("phase", "resourceUsage", "cost"):
        code, text = found[field]
        assert code == 400, (field, code, text)
        assert json.loads(text)["error"]["field"] == field
    assert found["victim by name"][0] == 400
    assert json.loads(found["victim by name"][1])["error"]["field"] in {"name", "namespace"}
    assert found["nan loss"][0] == 400
    assert json.loads(found["nan loss"][1])["error"]["field"] == "metrics.currentLoss"
    assert found["huge"][0] == 413
    assert found["victim in path"][0] == 404
    assert found["victim in query"][0] == 202  # taken, but for the pod's own job (checked below)
    # A sender's token is replaced by the pod's: again only its own job.
    assert reports["found with garbage token"]["own progress"][0] == 202
    # Straight to the operator's endpoint, without the pod's token (with none, garbage or any token it found):
    # nothing is taken.
    direct = {where: sent for where, sent in reports.items() if where.startswith("operator with ")}
    assert len(direct) == 2 + len(results["tokens"])
    refusals = {"victim in path": {404}, "huge": {401, 413}}  # no route; too large to read, whoever sends it
    for where, sent in direct.items():
        for label, (code, _) in sent.items():
            assert code in refusals.get(label, {401}), (where, label, code)

    # Phase follows the pods and cost keeps accruing, for both jobs.
    during = client.training.jobs.get(attacker.id)
    assert during.status == "running"
    time.sleep(3)
    later = client.training.jobs.get(attacker.id)
    assert later.status == "running"
    assert _cost(later) > _cost(during) > 0
    neighbour = client.training.jobs.get(victim.id)
    assert neighbour.status == "running"
    assert 0 < neighbour.progress.current_step < FORGED_STEP
    assert _cost(neighbour) > 0

    final = platform.wait_finished(attacker.id)
    assert final.status == "completed", final.error
    assert _cost(final) > _cost(later)
    assert final.progress.current_step == 40
    assert final.metrics.current_loss == 2.0 / 40
    assert [c.step for c in client.training.jobs.checkpoints(attacker.id)] == [20]
    status = platform.job_resource(attacker.id)["status"]
    assert status["completedAt"] >= status["startedAt"]
    assert status["resourceUsage"]["accruedUntil"] < "2099"

    neighbour = client.training.jobs.get(victim.id)
    assert neighbour.progress.current_step < FORGED_STEP
    assert neighbour.status == "running"
    steps = [p.step for p in client.training.jobs.metrics(victim.id) if p.loss is not None]
    assert steps == sorted(steps)
    assert max(steps) < FORGED_STEP
    client.training.jobs.stop(victim.id, save_checkpoint=False)
