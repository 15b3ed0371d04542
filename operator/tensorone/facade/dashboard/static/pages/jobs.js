// The jobs page: the API's list (filters, sort and pagination are the API's own query parameters, kept in the
// page URL) refreshed by polling with ETags; GPU, workers and cost come from each row's full job object.
import { ApiError, getJson, jobPath } from "../api.js";
import { ACTIVE, age, dash, every, h, money, num, replace, setText, statusBadge } from "../dom.js";

const STATUSES = ["pending", "running", "stopping", "stopped", "completed", "failed", "cancelled"];
const MODEL_TYPES = [["llm", "LLM"], ["vision", "Vision"], ["multimodal", "Multimodal"], ["custom", "Custom"]];
const SORTS = [["created_at", "Created"], ["updated_at", "Updated"], ["name", "Name"]];
const LIMITS = ["10", "20", "50", "100"];
const DEFAULT_LIMIT = "20";
const POLL_MS = 2500;
const DETAIL_CONCURRENCY = 4;
const COLUMNS = ["Name", "Status", "Progress", "Loss", "Throughput", "GPU", "Workers", "Cost", "Age"];

export function renderJobs(page, query) {
  page.setTitle("Jobs");
  const params = {
    status: query.get("status") || "",
    modelType: query.get("modelType") || "",
    sort: query.get("sort") || "created_at",
    order: query.get("order") || "desc",
    limit: query.get("limit") || DEFAULT_LIMIT,
    offset: query.get("offset") || "0",
  };
  const go = (changes) => {
    const next = { ...params, ...changes };
    const qs = new URLSearchParams(Object.entries(next).filter(([k, v]) => v !== "" && !(k === "offset" && v === "0")));
    page.navigate(`/ui/jobs?${qs}`);
  };

  const select = (name, label, options, value) => {
    // A value from the URL that the menu does not list (limit=5, a typo) is shown as it is; the API judges it.
    const all = options.some(([v]) => v === value) ? options : [...options, [value, value]];
    const el = h("select", { id: `filter-${name}`, name },
      all.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
    el.addEventListener("change", () => go({ [name]: el.value, offset: "0" }));
    return h("div", { class: "field inline" }, h("label", { for: `filter-${name}` }, label), el);
  };
  const filters = h("form", { class: "filters", "aria-label": "Filter and sort jobs", onsubmit: (e) => e.preventDefault() },
    select("status", "Status", [["", "Any"], ...STATUSES.map((s) => [s, s])], params.status),
    select("modelType", "Model type", [["", "Any"], ...MODEL_TYPES], params.modelType),
    select("sort", "Sort by", SORTS, params.sort),
    select("order", "Order", [["desc", "Descending"], ["asc", "Ascending"]], params.order),
    select("limit", "Per page", LIMITS.map((n) => [n, n]), params.limit),
  );
  const summary = h("p", { class: "summary", id: "jobs-summary", "aria-live": "polite" }, "Loading…");
  const problem = h("p", { class: "error-banner", id: "jobs-problem", role: "alert", hidden: true });
  const tbody = h("tbody");
  const table = h("table", { class: "jobs", "aria-describedby": "jobs-summary" },
    h("caption", { class: "visually-hidden" }, "Training jobs"),
    h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
    tbody);
  const previous = h("button", { type: "button", disabled: true }, "Previous page");
  const next = h("button", { type: "button", disabled: true }, "Next page");
  const offset = Number(params.offset) || 0;
  const limit = Number(params.limit) || Number(DEFAULT_LIMIT);
  previous.addEventListener("click", () => go({ offset: String(Math.max(0, offset - limit)) }));
  next.addEventListener("click", () => go({ offset: String(offset + limit) }));

  replace(page.main,
    h("div", { class: "page-head" }, h("h1", {}, "Jobs"), h("a", { class: "button primary", href: "/ui/new" }, "New job")),
    filters, problem, summary,
    h("div", { class: "table-scroll" }, table),
    h("nav", { class: "pager", "aria-label": "Pagination" }, previous, next));

  const controller = new AbortController();
  const details = new Map(); // id -> {key, job}: the full object of each row, refetched when it may have changed
  const rows = new Map(); // id -> <tr>
  const apiQuery = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== ""));
  let items = [];

  async function refresh() {
    let list;
    try {
      list = await getJson(`/v2/training/jobs?${apiQuery}`, { signal: controller.signal });
    } catch (e) {
      if (e instanceof ApiError) {
        const { field, reason } = e.details || {};
        problem.textContent = field ? `The API refused the query: ${field}: ${reason}` : e.message;
        problem.hidden = false;
        summary.textContent = "";
        return;
      }
      throw e;
    }
    problem.hidden = true;
    items = list.data.jobs;
    const { total, hasMore } = list.data.pagination;
    setText(summary, total === 0
      ? "No jobs match."
      : `Jobs ${Math.min(offset + 1, total)}–${offset + items.length} of ${total}`);
    previous.disabled = offset === 0;
    next.disabled = !hasMore;
    draw();
    await loadDetails();
    draw();
  }

  async function loadDetails() {
    const wanted = items.filter((item) => {
      const known = details.get(item.id);
      return !known || ACTIVE.has(item.status) || known.key !== JSON.stringify(item);
    });
    let index = 0;
    const worker = async () => {
      while (index < wanted.length) {
        const item = wanted[index++];
        try {
          const { data } = await getJson(jobPath(item.id), { signal: controller.signal });
          details.set(item.id, { key: JSON.stringify(item), job: data });
        } catch (e) {
          if (!(e instanceof ApiError)) throw e; // a job deleted meanwhile, or rate limited: next round
        }
      }
    };
    await Promise.all(Array.from({ length: DETAIL_CONCURRENCY }, worker));
  }

  function draw() {
    const ids = items.map((item) => item.id);
    const sameRows = ids.length === rows.size && ids.every((id, i) => tbody.children[i]?.dataset.jobId === id);
    if (!sameRows) {
      rows.clear();
      replace(tbody, items.map((item) => {
        const tr = newRow(item);
        rows.set(item.id, tr);
        return tr;
      }));
    }
    for (const item of items) fillRow(rows.get(item.id), item, details.get(item.id)?.job);
  }

  const stop = every(POLL_MS, refresh);
  return () => {
    stop();
    controller.abort();
  };
}

function newRow(item) {
  const cells = COLUMNS.map((label) => h("td", { "data-label": label }));
  const link = h("a", { href: `/ui/jobs/${encodeURIComponent(item.id)}`, class: "job-link" });
  cells[0].append(link, h("span", { class: "job-id" }, item.id));
  cells[2].append(h("progress", { max: "100", value: "0" }), h("span", { class: "pct" }));
  return h("tr", { "data-job-id": item.id }, cells);
}

function fillRow(tr, item, job) {
  const [name, status, progress, loss, throughput, gpu, workers, cost, created] = tr.children;
  setText(name.querySelector("a"), item.name);
  if (status.textContent !== item.status) replace(status, statusBadge(item.status));
  const pct = item.progress?.percentage ?? 0;
  const bar = progress.querySelector("progress");
  bar.value = pct;
  bar.setAttribute("aria-label", `${item.name}: ${pct.toFixed(0)} % done`);
  setText(progress.querySelector(".pct"), `${pct.toFixed(pct > 0 && pct < 10 ? 1 : 0)} %`);
  setText(loss, num(item.metrics?.currentLoss));
  setText(throughput, item.metrics?.throughput || dash);
  setText(gpu, job?.resourceAllocation?.gpuType || dash);
  setText(workers, job?.resourceAllocation?.workers ?? dash);
  setText(cost, job ? money(job.resourceUsage?.cost) : dash);
  setText(created, age(item.createdAt));
  created.title = item.createdAt;
}
