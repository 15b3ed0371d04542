// One job: status and actions, live curves from /metrics, progress, ETA and cost, checkpoints (resume from
// any), worker logs (followed while running), the events timeline and the error when it failed.
import { ApiError, get, getJson, getText, jobPath, post, streamText } from "../api.js";
import { LineChart } from "../charts.js";
import {
  ACTIVE, RESUMABLE, dash, duration, every, h, money, num, replace, setText, statusBadge, timeEl, toast, when,
} from "../dom.js";

const JOB_POLL_MS = 2000;
const METRICS_POLL_MS = 2500;
const EVENTS_POLL_MS = 5000;
const LOG_LIMIT_CHARS = 400_000;
const LOG_TAIL_LINES = 2000;

export function renderJob(page, id) {
  page.setTitle(id);
  replace(page.main, h("p", { class: "summary" }, "Loading…"));
  const controller = new AbortController();
  const { signal } = controller;
  const stops = [];
  const charts = [];
  let job = null;
  let fetchedAt = 0;
  let view = null;

  async function refreshJob() {
    let answer;
    try {
      answer = await getJson(jobPath(id), { signal });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) { // never there, or deleted while on screen
        leave();
        page.notFound("job");
        return;
      }
      throw e;
    }
    if (!view) view = build(answer.data);
    if (answer.changed || !job) {
      job = answer.data;
      fetchedAt = Date.now();
      fill();
    }
  }

  function build(first) {
    page.setTitle(first.name);
    const v = {
      title: h("h1", {}, first.name),
      status: h("span", { id: "job-status" }),
      actions: h("div", { class: "actions", role: "group", "aria-label": "Job actions" }),
      facts: h("dl", { class: "facts" }),
      cost: h("dl", { class: "facts" }),
      error: h("div", { class: "error-banner", role: "alert", hidden: true }),
      checkpoints: h("tbody"),
      noCheckpoints: h("p", { class: "hint" }, "No checkpoints yet."),
      events: h("ol", { class: "timeline" }),
      worker: h("select", { id: "log-worker" }),
      follow: h("input", { id: "log-follow", type: "checkbox", checked: true }),
      log: h("pre", { id: "log", class: "log", tabindex: "0", "aria-label": "Worker log" }),
      logState: h("p", { class: "hint", id: "log-state", "aria-live": "polite" }),
      progress: h("progress", { max: "100", value: "0", id: "job-progress" }),
      chartsBox: h("div", { class: "charts" }),
    };
    const lossChart = new LineChart({
      id: "chart-loss", title: "Loss", yLabel: "loss",
      series: [{ label: "train loss", key: "loss" }, { label: "eval loss", key: "evalLoss" }],
    });
    const lrChart = new LineChart({
      id: "chart-lr", title: "Learning rate", yLabel: "lr", series: [{ label: "learning rate", key: "learningRate" }],
    });
    const speedChart = new LineChart({
      id: "chart-throughput", title: "Throughput", yLabel: first.modelType === "vision" ? "images/s" : "tokens/s",
      series: [{ label: "throughput", key: "throughput" }],
    });
    charts.push(lossChart, lrChart, speedChart);
    v.chartsBox.append(...charts.map((c) => c.figure));
    v.lossChart = lossChart;

    const section = (title, idName, ...body) =>
      h("section", { class: "card", "aria-labelledby": idName }, h("h2", { id: idName }, title), ...body);

    v.worker.addEventListener("change", () => logs.restart());
    v.follow.addEventListener("change", () => logs.restart());
    replace(page.main,
      h("p", { class: "crumbs" }, h("a", { href: "/ui/jobs" }, "Jobs"), " / ", h("span", { class: "job-id" }, first.id)),
      h("div", { class: "page-head" }, v.title, v.status),
      h("p", { class: "lead" }, `${first.modelType} job ${first.id}`, first.description ? ` — ${first.description}` : ""),
      v.actions,
      v.error,
      h("div", { class: "grid-2" },
        section("Progress", "h-progress", h("div", { class: "progress-line" }, h("label", { for: "job-progress" }, "Done"), v.progress), v.facts),
        section("Usage and cost", "h-cost", v.cost)),
      section("Curves", "h-curves", v.chartsBox),
      section("Checkpoints", "h-checkpoints", v.noCheckpoints,
        h("div", { class: "table-scroll" }, h("table", { class: "checkpoints" },
          h("caption", { class: "visually-hidden" }, "Checkpoints"),
          h("thead", {}, h("tr", {}, ["Checkpoint", "Epoch", "Step", "Loss", "Size", "Saved", ""].map((c) =>
            h("th", { scope: "col" }, c)))),
          v.checkpoints))),
      section("Logs", "h-logs",
        h("div", { class: "filters" },
          h("div", { class: "field inline" }, h("label", { for: "log-worker" }, "Worker"), v.worker),
          h("div", { class: "field inline check" }, v.follow, h("label", { for: "log-follow" }, "Follow while running"))),
        v.logState, v.log),
      section("Events", "h-events", v.events),
    );
    return v;
  }

  function fill() {
    const v = view;
    const { progress: p = {}, metrics: m = {} } = job;
    const active = ACTIVE.has(job.status);
    setText(v.title, job.name);
    replace(v.status, statusBadge(job.status));
    v.progress.value = p.percentage || 0;
    replace(v.facts,
      fact("Progress", `${(p.percentage || 0).toFixed(1)} %`),
      fact("Epoch", p.totalEpochs ? `${p.currentEpoch} / ${p.totalEpochs}` : dash),
      fact("Step", p.totalSteps ? `${p.currentStep} / ${p.totalSteps}` : dash),
      fact("Elapsed", duration(p.elapsedTime)),
      fact("Remaining (ETA)", active && p.remainingTime !== null ? duration(p.remainingTime) : dash),
      fact("Finishes at", active && job.estimatedCompletion ? timeEl(job.estimatedCompletion) : dash),
      fact("Loss (current / best)", `${num(m.currentLoss)} / ${num(m.bestLoss)}`),
      fact("Learning rate", num(m.learningRate)),
      fact("Throughput", m.throughput || dash),
      fact("Memory", m.memoryUsage || dash),
    );
    const allocation = job.resourceAllocation;
    const usage = job.resourceUsage || {};
    v.liveCost = h("dd", { id: "live-cost" }, money(usage.cost));
    v.liveHours = h("dd", { id: "live-gpu-hours" }, num(usage.gpuHours));
    replace(v.cost,
      fact("GPU", allocation ? allocation.gpuType : dash),
      fact("Workers", allocation ? String(allocation.workers) : dash),
      fact("Memory per worker", allocation?.memoryPerWorker || dash),
      h("div", {}, h("dt", {}, "GPU-hours"), v.liveHours),
      h("div", {}, h("dt", {}, job.status === "running" ? "Cost so far (accruing)" : "Cost"), v.liveCost),
      fact("Estimated cost", job.estimatedCost ? `${money(job.estimatedCost.total)} (${money(job.estimatedCost.hourly)}/h)` : dash),
      fact("Actual vs estimate", job.estimatedCost?.total
        ? `${((100 * (usage.cost || 0)) / job.estimatedCost.total).toFixed(0)} % of the estimate` : dash),
      fact("Started", timeEl(job.startedAt)),
      fact("Completed", timeEl(job.completedAt)),
    );
    if (job.error) {
      replace(v.error, h("strong", {}, `Failed: ${job.error.reason}`), h("p", {}, job.error.message));
      v.error.hidden = false;
    } else {
      v.error.hidden = true;
    }
    fillActions(active);
    fillCheckpoints();
    const workers = allocation?.workers || job.config?.maxWorkers || 1;
    if (v.worker.options.length !== workers) {
      const chosen = v.worker.value || "0";
      replace(v.worker, Array.from({ length: workers }, (_, i) =>
        h("option", { value: String(i), selected: String(i) === chosen }, `worker ${i}`)));
    }
    logs.onJob(active);
  }

  function fact(label, value) {
    return h("div", {}, h("dt", {}, label), h("dd", {}, value));
  }

  function fillActions(active) {
    const status = job.status;
    const buttons = [];
    if (active && status !== "stopping") {
      buttons.push(h("button", { type: "button", class: "primary", onclick: () => stopJob(true) }, "Stop and save a checkpoint"));
      buttons.push(h("button", { type: "button", onclick: () => stopJob(false) }, "Stop without a checkpoint"));
    }
    if (RESUMABLE.has(status) && job.checkpoints?.length) {
      buttons.push(h("button", { type: "button", class: "primary", onclick: () => resume(null) }, "Resume from the latest checkpoint"));
    }
    const key = buttons.map((b) => b.textContent).join("|");
    if (view.actions.dataset.key !== key) {
      view.actions.dataset.key = key;
      replace(view.actions, buttons.length ? buttons : h("p", { class: "hint" }, `No actions for a ${status} job.`));
    }
  }

  function fillCheckpoints() {
    const list = job.checkpoints || [];
    view.noCheckpoints.hidden = list.length > 0;
    const resumable = RESUMABLE.has(job.status);
    replace(view.checkpoints, list.map((c) => h("tr", {},
      h("th", { scope: "row" }, c.id), h("td", {}, String(c.epoch)), h("td", {}, String(c.step)),
      h("td", {}, num(c.loss)), h("td", {}, c.size), h("td", {}, timeEl(c.createdAt)),
      h("td", {}, h("button", {
        type: "button", disabled: !resumable, "aria-label": `Resume from ${c.id}`,
        title: resumable ? "" : "A job can be resumed once it is stopped, cancelled or failed",
        onclick: () => resume(c.id),
      }, "Resume from here")))));
  }

  async function act(what, call) {
    try {
      job = await call();
      fetchedAt = Date.now();
      fill();
      toast(what);
    } catch (e) {
      toast(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
    }
  }

  function stopJob(saveCheckpoint) {
    if (!saveCheckpoint && !confirm("Stop without a checkpoint? Training since the last checkpoint is lost.")) return;
    act(saveCheckpoint ? "Stopping: the workers save a checkpoint, then exit." : "Stopping without a checkpoint.",
      () => post(jobPath(id, "/stop"), { saveCheckpoint, reason: "stopped from the dashboard" }));
  }

  function resume(checkpointId) {
    act(checkpointId ? `Resuming from ${checkpointId}.` : "Resuming from the latest checkpoint.",
      () => post(jobPath(id, "/resume"), checkpointId ? { checkpointId } : {}));
  }

  async function refreshMetrics() {
    if (!view) return;
    const { data, changed } = await getJson(jobPath(id, "/metrics"), { signal });
    if (!changed && view.lossChart.count) return;
    const points = data.points || [];
    const xs = points.map((p) => p.step);
    for (const chart of charts) {
      chart.update(xs, chart.series.map((s) => points.map((p) => (Number.isFinite(p[s.key]) ? p[s.key] : null))));
    }
    // YOLO's mAP, when the metrics history carries it (keys such as mAP50, map50_95).
    const mapKeys = [...new Set(points.flatMap((p) => Object.keys(p).filter((k) => /^map/i.test(k))))];
    if (mapKeys.length && !charts.some((c) => c.figure.id === "chart-map")) {
      const chart = new LineChart({
        id: "chart-map", title: "mAP", yLabel: "mAP", yRange: [0, 1], series: mapKeys.map((k) => ({ label: k, key: k })),
      });
      charts.push(chart);
      view.chartsBox.append(chart.figure);
      chart.update(xs, chart.series.map((s) => points.map((p) => p[s.key] ?? null)));
    }
  }

  async function refreshEvents() {
    if (!view) return;
    const { events = [] } = await get(jobPath(id, "/events"), { signal });
    const key = JSON.stringify(events);
    if (view.events.dataset.key === key) return;
    view.events.dataset.key = key;
    const newestFirst = [...events].reverse();
    replace(view.events, newestFirst.length ? newestFirst.map((e) => h("li", { class: `event event-${e.type.toLowerCase()}` },
      timeEl(e.time), " ", h("strong", {}, e.reason), e.count > 1 ? ` ×${e.count}` : "", " ", h("span", { class: "hint" }, e.object),
      h("p", {}, e.message))) : h("li", { class: "hint" }, "No events yet."));
  }

  // The cost counter moves every second while workers run: the last figure from the server plus the job's
  // price per hour times the time since; the next poll replaces it with the server's own count.
  function tickCost() {
    if (!job || !view?.liveCost || job.status !== "running" || !job.estimatedCost?.hourly) return;
    const hours = (Date.now() - fetchedAt) / 3_600_000;
    setText(view.liveCost, money((job.resourceUsage?.cost || 0) + hours * job.estimatedCost.hourly));
  }

  const logs = logFollower(id, () => view, signal);

  function leave() {
    for (const stop of stops) stop();
    controller.abort();
    logs.stop();
    for (const chart of charts) chart.destroy();
  }

  stops.push(every(JOB_POLL_MS, refreshJob));
  stops.push(every(METRICS_POLL_MS, refreshMetrics));
  stops.push(every(EVENTS_POLL_MS, refreshEvents));
  const ticker = setInterval(tickCost, 1000);
  stops.push(() => clearInterval(ticker));
  return leave;
}

function logFollower(id, getView, pageSignal) {
  let current = null; // AbortController of the request in flight
  let following = false;
  let active = false;

  function show(text, append) {
    const pre = getView().log;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    let value = append ? pre.textContent + text : text;
    if (value.length > LOG_LIMIT_CHARS) value = value.slice(value.length - LOG_LIMIT_CHARS);
    pre.textContent = value;
    if (atBottom || !append) pre.scrollTop = pre.scrollHeight;
  }

  async function start() {
    const view = getView();
    if (!view || pageSignal.aborted) return;
    if (current) current.abort();
    const request = (current = new AbortController());
    pageSignal.addEventListener("abort", () => request.abort(), { once: true });
    const worker = view.worker.value || "0";
    const follow = view.follow.checked && active;
    following = follow;
    try {
      if (follow) {
        setText(view.logState, `Following worker ${worker}…`);
        show("", false);
        await streamText(jobPath(id, `/logs?worker=${worker}&follow=true&tail=${LOG_TAIL_LINES}`),
          (text) => show(text, true), { signal: request.signal });
        setText(view.logState, `Worker ${worker}'s log ended.`);
      } else {
        const text = await getText(jobPath(id, `/logs?worker=${worker}&tail=${LOG_TAIL_LINES}`), { signal: request.signal });
        show(text || "", false);
        setText(view.logState, text ? `Worker ${worker}, last ${LOG_TAIL_LINES} lines, as of ${when(new Date().toISOString())}.` : `Worker ${worker} has written nothing yet.`);
      }
    } catch (e) {
      if (e?.name === "AbortError") return;
      setText(view.logState, e instanceof ApiError ? `${e.code}: ${e.message}` : `Log unavailable: ${e}`);
    } finally {
      if (current === request) {
        current = null;
        following = false;
      }
    }
  }

  let lastRead = 0;
  return {
    restart: start,
    onJob(isActive) {
      const changed = isActive !== active;
      active = isActive;
      // A finished job's log is kept by the operator once its pods are gone: read again until it shows up.
      const empty = !getView()?.log.textContent;
      if (!active && empty && !current && Date.now() - lastRead > 5000) {
        lastRead = Date.now();
        start();
        return;
      }
      // A new attempt (resume, retry) starts new worker pods: follow again; a finished job: read it once.
      if (changed || (active && !following && getView()?.follow.checked && !current)) start();
    },
    stop() {
      if (current) current.abort();
    },
  };
}
