"""A stand-in for the trainer (stdlib only, starts in milliseconds): behaviour from `# fake: key=value` lines in
the job's customCode. Reports to the job's status like rank 0, checkpoints on SIGTERM, exits as told."""

import json
import os
import signal
import ssl
import sys
import time
import urllib.request

# First: a stop that arrives while this script is still starting must still end in a checkpoint.
stopping = False


def on_term(*_: object) -> None:
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)

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
target = config["statusTarget"]
# In-cluster access as a pod has it: HTTPS to the service host, the service account's CA and token.
ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
TLS = ssl.create_default_context(cafile=f"{ACCOUNT}/ca.crt")
with open(f"{ACCOUNT}/token") as token_file:
    AUTH = {"Authorization": f"Bearer {token_file.read().strip()}"}
url = (
    f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
    f"/apis/training.tensorone.ai/v1/namespaces/{target['namespace']}/trainingjobs/{target['name']}"
)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def patch(status: dict) -> None:
    """Best effort, like the real reporter: a failed report must not end training."""
    request = urllib.request.Request(
        url + "/status",
        method="PATCH",
        data=json.dumps({"status": status}).encode(),
        headers={"Content-Type": "application/merge-patch+json", **AUTH},
    )
    for _ in range(5):
        try:
            urllib.request.urlopen(request, timeout=10, context=TLS).read()
            return
        except OSError as e:
            print(f"status report failed: {e!r}", flush=True)
            time.sleep(0.2)


def checkpoint(step: int) -> None:
    current = []
    for _ in range(5):
        try:
            current = (
                json.load(
                    urllib.request.urlopen(urllib.request.Request(url, headers=AUTH), timeout=10, context=TLS)
                )
                .get("status", {})
                .get("checkpoints", [])
            )
            break
        except OSError as e:
            print(f"reading the job failed: {e!r}", flush=True)
            time.sleep(0.2)
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
    patch({"checkpoints": current, "lastReportTime": now()})
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
        patch({"lastReportTime": now(), "progress": {"currentStep": step}})
    if time.monotonic() - start >= seconds:
        code = int(options.get("exit", "0"))
        if code:
            with open(os.environ["TENSORONE_TERMINATION_LOG"], "w") as handle:
                handle.write(options.get("message", "failed"))
        sys.exit(code)
