"""A stand-in for the trainer (stdlib only, starts in milliseconds): behaviour from `# fake: key=value` lines in
the job's customCode. Reports progress and checkpoints like rank 0, checkpoints on SIGTERM, exits as told."""

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

# First: a stop that arrives while this script is still starting must still end in a checkpoint.
stopping = False


def on_term(*_: object) -> None:
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)

from tensorone_trainer.alive import announce_alive  # noqa: E402 (after the signal handler, as said above)

announce_alive()  # as the real trainer does: the pod's reporting relay serves while this runs

with open(os.environ["TENSORONE_RUN_CONFIG"]) as config_file:
    config = json.load(config_file)
options = dict(
    line.split(":", 1)[1].strip().split("=", 1)
    for line in config["config"]["customCode"].splitlines()
    if line.startswith("# fake:")
)
attempt = int(os.environ["TENSORONE_ATTEMPT"])
index = int(os.environ["TENSORONE_WORKER_INDEX"])
resume = sys.argv[sys.argv.index("--resume-from") + 1] if "--resume-from" in sys.argv else None
print(f"fake trainer attempt={attempt} worker={index} resume={resume}", flush=True)
# Reports as rank 0 sends them: POST to the pod's reporting relay, which forwards them with the pod's reporting
# token (the trainer container holds no credential at all). The environment as the operator gives it.
REPORT_URL = os.environ.get("TENSORONE_REPORT_URL")
# The checkpoints of every attempt, kept on the checkpoint volume as the real trainer finds them there.
CHECKPOINTS = os.path.join(os.environ["TENSORONE_JOB_DIR"], "fake-checkpoints.json")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def send_report(status: dict) -> None:
    """Best effort, like the real reporter: a failed report must not end training."""
    if not REPORT_URL:
        return
    for _ in range(5):
        request = urllib.request.Request(
            REPORT_URL,
            method="POST",
            data=json.dumps(status).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request, timeout=10).read()
            return
        except urllib.error.HTTPError as e:
            print(f"status report refused: {e.code} {e.read()[:200]!r}", flush=True)
            if e.code < 500 and e.code != 429:
                return
        except OSError as e:
            print(f"status report failed: {e!r}", flush=True)
        time.sleep(0.2)


def checkpoint(step: int) -> None:
    try:
        with open(CHECKPOINTS) as handle:
            current = json.load(handle)
    except FileNotFoundError:
        current = []
    current.append(
        {
            "id": f"ckpt_step_{step}_a{attempt}",
            "epoch": 0,
            "step": step,
            "createdAt": now(),
            "size": "1KB",
            "sizeBytes": 1024,
            "attempt": attempt,
        }
    )
    os.makedirs(os.path.dirname(CHECKPOINTS), exist_ok=True)
    with open(CHECKPOINTS, "w") as handle:
        json.dump(current, handle)
    send_report({"checkpoints": current, "progress": {"currentStep": step}})
    print(f"checkpoint ckpt_step_{step}_a{attempt}", flush=True)


start = time.monotonic()
seconds = float(options.get("seconds", "3600"))
report = index == 0 and options.get("report", "yes") == "yes"
step = 0
while True:
    time.sleep(0.1)
    step += 1
    if stopping:
        if index == 0:
            checkpoint(step)
        sys.exit(0)
    if options.get("crash_attempt") == str(attempt) and index == 0 and time.monotonic() - start > 1:
        if options.get("checkpoint_before_crash") == "yes":
            checkpoint(step)
        os.kill(os.getpid(), signal.SIGKILL)
    if report and step % 5 == 0:
        send_report({"progress": {"currentStep": step}})
    if time.monotonic() - start >= seconds:
        code = int(options.get("exit", "0"))
        if code:
            with open(os.environ["TENSORONE_TERMINATION_LOG"], "w") as handle:
                handle.write(options.get("message", "failed"))
        sys.exit(code)
