// The create page: the documented job (shape A) for LLM LoRA and YOLO. The API is the validator: while the form
// is filled in, POST /v2/training/jobs:estimate runs create's own checks and estimator without creating
// anything, and every CONFIGURATION_ERROR is shown at the field its details.field names.
import { ApiError, get, post } from "../api.js";
import { h, money, replace, duration } from "../dom.js";

const ESTIMATE_DELAY_MS = 500;

// [field path as the API names it, label, kind, options]; kind: text, area, int, number, list, select, bool.
const COMMON = [
  ["name", "Name", "text", { required: true }],
  ["description", "Description", "area"],
  ["tags", "Tags", "list", { hint: "Comma-separated" }],
  ["datasetId", "Dataset", "dataset", { required: true }],
  ["gpuType", "GPU type", "select", { choices: [["", "Cluster default"], ["a100", "NVIDIA A100"], ["h100", "NVIDIA H100"], ["v100", "NVIDIA V100"], ["rtx4090", "RTX 4090"]] }],
  ["maxWorkers", "Workers", "int", { hint: "Worker pods, 1–32 (default 1)" }],
  ["priority", "Priority", "select", { choices: [["", "Normal (default)"], ["high", "High"], ["normal", "Normal"], ["low", "Low"]] }],
];
const LLM = [
  ["config.baseModel", "Base model", "text", { required: true, hint: "A hub id (meta-llama/Llama-2-7b-hf) or a path the cluster can read" }],
  ["config.strategy", "Strategy", "select", { choices: [["", "LoRA (default)"], ["lora", "LoRA"], ["qlora", "QLoRA"], ["full", "Full fine-tuning"]] }],
  ["config.parameters.rank", "LoRA rank", "int", { hint: "1–1024 (default 8)" }],
  ["config.parameters.alpha", "LoRA alpha", "number", { hint: "> 0 (default 2 × rank)" }],
  ["config.parameters.dropout", "LoRA dropout", "number", { hint: "0–1 (default 0.05)" }],
  ["config.parameters.target_modules", "Target modules", "list", { hint: "Comma-separated, e.g. q_proj, v_proj (default: the model's attention projections)" }],
  ["config.training.epochs", "Epochs", "int", { hint: "≥ 1 (default 3)" }],
  ["config.training.batch_size", "Batch size per device", "int", { hint: "≥ 1 (default 4)" }],
  ["config.training.learning_rate", "Learning rate", "number", { hint: "1e-6 – 1e-1 (default 2e-4)" }],
  ["config.training.weight_decay", "Weight decay", "number", { hint: "≥ 0" }],
  ["config.training.warmup_steps", "Warm-up steps", "int"],
  ["config.training.gradient_accumulation_steps", "Gradient accumulation steps", "int"],
  ["config.training.max_seq_length", "Max sequence length", "int"],
  ["config.training.validation_split", "Validation split", "number", { hint: "0 – 0.5" }],
  ["config.training.early_stopping_patience", "Early-stopping patience", "int", { hint: "Evaluations without improvement" }],
  ["config.training.optimizer", "Optimizer", "select", { choices: [["", "AdamW (default)"], ["adamw", "AdamW"], ["adam", "Adam"], ["sgd", "SGD"]] }],
  ["config.training.save_every_steps", "Checkpoint every N steps", "int"],
  ["config.optimization.mixed_precision", "Mixed precision", "select", { choices: [["", "Best for the GPU (default)"], ["no", "No"], ["fp16", "fp16"], ["bf16", "bf16"]] }],
  ["config.optimization.gradient_checkpointing", "Gradient checkpointing", "bool"],
  ["config.optimization.max_grad_norm", "Max gradient norm", "number", { hint: "> 0 (default 1.0)" }],
];
const VISION = [
  ["config.architecture", "Architecture", "text", { hint: "yolov8, yolov5 or yolo11 with an optional size n|s|m|l|x (default yolov8n)" }],
  ["config.input_size[0]", "Input width", "int", { hint: "A multiple of 32, 32–2048 (default 640)" }],
  ["config.input_size[1]", "Input height", "int", { hint: "A multiple of 32, 32–2048 (default 640)" }],
  ["config.num_classes", "Number of classes", "int", { hint: "Default: from the dataset's data.yaml" }],
  ["config.training.epochs", "Epochs", "int", { hint: "≥ 1 (default 100)" }],
  ["config.training.batch_size", "Batch size", "int", { hint: "Default 16" }],
  ["config.training.learning_rate", "Learning rate", "number", { hint: "Default 0.01" }],
  ["config.training.momentum", "Momentum", "number", { hint: "0–1 (default 0.937)" }],
  ["config.training.weight_decay", "Weight decay", "number"],
  ["config.training.validation_split", "Validation split", "number"],
  ["config.training.early_stopping_patience", "Early-stopping patience", "int"],
  ["config.augmentation.mixup", "Mixup", "number", { hint: "0–1" }],
  ["config.augmentation.copy_paste", "Copy-paste", "number", { hint: "0–1" }],
  ["config.augmentation.hsv_h", "HSV hue", "number", { hint: "0–1" }],
  ["config.augmentation.hsv_s", "HSV saturation", "number", { hint: "0–1" }],
  ["config.augmentation.hsv_v", "HSV value", "number", { hint: "0–1" }],
];

function fieldId(prefix, path) {
  return `${prefix}-${path.replace(/[^a-zA-Z0-9]+/g, "-")}`;
}

export function renderCreate(page) {
  page.setTitle("New job");
  const controller = new AbortController();
  const fields = new Map(); // "scope:path" -> {input, error, kind, scope}
  let modelType = "llm";
  let estimateTimer = null;
  let estimateSeq = 0;

  function control(scope, [path, label, kind, opts = {}]) {
    const id = fieldId(scope, path);
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    let input;
    if (kind === "select" || kind === "dataset") {
      input = h("select", { id, name: path }, (opts.choices || []).map(([v, t]) => h("option", { value: v }, t)));
    } else if (kind === "area") {
      input = h("textarea", { id, name: path, rows: "2" });
    } else if (kind === "bool") {
      input = h("input", { id, name: path, type: "checkbox" });
    } else {
      const numeric = kind === "int" || kind === "number";
      input = h("input", { id, name: path, type: "text", inputmode: numeric ? (kind === "int" ? "numeric" : "decimal") : null, autocomplete: "off" });
    }
    if (opts.required) input.setAttribute("aria-required", "true");
    input.setAttribute("aria-describedby", `${opts.hint ? hintId + " " : ""}${errorId}`);
    input.dataset.field = path;
    const error = h("p", { class: "field-error", id: errorId, hidden: true });
    fields.set(`${scope}:${path}`, { input, error, kind, scope, path });
    input.addEventListener(kind === "select" || kind === "bool" || kind === "dataset" ? "change" : "input", scheduleEstimate);
    const labelEl = h("label", { for: id }, label, opts.required ? h("span", { class: "required" }, " (required)") : "");
    return h("div", { class: kind === "bool" ? "field check" : "field" },
      kind === "bool" ? [input, labelEl] : [labelEl, input],
      opts.hint ? h("p", { class: "hint", id: hintId }, opts.hint) : null, error);
  }

  const typeRadios = [["llm", "LLM fine-tuning (LoRA)"], ["vision", "Vision (YOLO detection)"]].map(([value, text]) => {
    const input = h("input", { type: "radio", name: "modelType", id: `model-type-${value}`, value, checked: value === modelType });
    input.addEventListener("change", () => {
      modelType = value;
      llmSet.hidden = value !== "llm";
      visionSet.hidden = value !== "vision";
      scheduleEstimate();
    });
    return h("div", { class: "check" }, input, h("label", { for: `model-type-${value}` }, text));
  });
  const typeError = h("p", { class: "field-error", id: "model-type-error", hidden: true });
  fields.set("common:modelType", { input: null, error: typeError, kind: "radio", scope: "common", path: "modelType" });
  const llmSet = h("fieldset", {}, h("legend", {}, "LLM configuration"), LLM.map((f) => control("llm", f)));
  const visionSet = h("fieldset", { hidden: true }, h("legend", {}, "YOLO configuration"), VISION.map((f) => control("vision", f)));
  const summary = h("div", { class: "error-summary", role: "alert", tabindex: "-1", hidden: true });
  const estimateBox = h("div", { class: "estimate", id: "estimate", "aria-live": "polite" },
    h("p", { class: "hint" }, "Fill in the name, dataset and model to see the cost and duration estimate."));
  const submit = h("button", { type: "submit", class: "primary" }, "Create job");

  const form = h("form", { class: "create", novalidate: true, "aria-labelledby": "create-title" },
    h("div", { class: "page-head" }, h("h1", { id: "create-title" }, "New training job")),
    summary,
    h("fieldset", {}, h("legend", {}, "Job"),
      COMMON.slice(0, 3).map((f) => control("common", f)),
      h("fieldset", { class: "radios", "aria-describedby": "model-type-error" }, h("legend", {}, "Model type"), typeRadios, typeError),
      COMMON.slice(3).map((f) => control("common", f))),
    llmSet, visionSet,
    h("section", { class: "card", "aria-labelledby": "h-estimate" }, h("h2", { id: "h-estimate" }, "Estimate"), estimateBox),
    h("div", { class: "actions" }, submit, h("a", { class: "button", href: "/ui/jobs" }, "Cancel")));
  replace(page.main, form);
  loadDatasets();

  async function loadDatasets() {
    const select = fields.get("common:datasetId").input;
    try {
      const { datasets } = await get("/v2/datasets?limit=100", { signal: controller.signal });
      replace(select, h("option", { value: "" }, datasets.length ? "Choose a dataset" : "No datasets registered"),
        datasets.map((d) => h("option", { value: d.id }, `${d.name} (${d.id}, ${d.format})`)));
      if (datasets.length === 1) select.value = datasets[0].id;
    } catch (e) {
      if (e?.name !== "AbortError") replace(select, h("option", { value: "" }, "Datasets could not be listed"));
    }
  }

  function value(field) {
    const { input, kind } = field;
    if (kind === "bool") return input.checked ? true : undefined;
    const raw = input.value.trim();
    if (raw === "") return undefined;
    if (kind === "list") return raw.split(",").map((s) => s.trim()).filter(Boolean);
    if (kind === "int" || kind === "number") {
      // A number when it reads as one; otherwise the text as typed, for the API to refuse at this field.
      const n = Number(raw);
      return Number.isFinite(n) && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw) ? n : raw;
    }
    return raw;
  }

  function body() {
    const result = { modelType };
    for (const field of fields.values()) {
      if (!field.input || (field.scope !== "common" && field.scope !== modelType)) continue;
      const v = value(field);
      if (v !== undefined) setPath(result, field.path, v);
    }
    if (!result.config) result.config = {};
    return result;
  }

  function clearErrors() {
    summary.hidden = true;
    for (const f of fields.values()) {
      f.error.hidden = true;
      f.error.textContent = "";
      f.input?.removeAttribute("aria-invalid");
    }
  }

  // The field an API error names, as shown on this page (input_size errors may name the list or an item).
  function fieldFor(path) {
    if (!path) return null;
    const scope = path.startsWith("config") ? modelType : "common";
    for (let p = path; p; ) {
      const f = fields.get(`${scope}:${p}`) || fields.get(`${scope}:${p}[0]`);
      if (f) return f;
      const parent = p.replace(/(\[\d+\]|\.[^.[\]]+)$/, "");
      if (parent === p) break;
      p = parent;
    }
    return null;
  }

  function showErrors(error, { focus }) {
    clearErrors();
    const problems = [];
    const d = error.details || {};
    if (error.code === "CONFIGURATION_ERROR") {
      for (const p of d.errors || [{ field: d.field, reason: d.reason }]) problems.push({ field: p.field, reason: p.reason });
    } else if (error.code === "DATASET_NOT_FOUND") {
      problems.push({ field: "datasetId", reason: error.message });
    } else if (error.code === "INSUFFICIENT_RESOURCES") {
      problems.push({ field: "gpuType", reason: `${error.message}; offered: ${(d.availableGpuTypes || []).join(", ") || "none"}` });
    } else {
      problems.push({ field: null, reason: error.message });
    }
    const items = [];
    for (const p of problems) {
      const f = fieldFor(p.field);
      if (f) {
        f.error.textContent = f.error.textContent ? `${f.error.textContent}; ${p.reason}` : p.reason;
        f.error.hidden = false;
        f.input?.setAttribute("aria-invalid", "true");
      }
      const label = p.field ? `${p.field}: ${p.reason}` : p.reason;
      const target = f?.input?.id || (f ? "model-type-llm" : null);
      items.push(h("li", {}, target ? h("a", { href: `#${target}`, onclick: (e) => { e.preventDefault(); document.getElementById(target).focus(); } }, label) : label));
    }
    if (!focus) return;
    replace(summary, h("h2", {}, "The job was not created"), h("ul", {}, items));
    summary.hidden = false;
    const first = fieldFor(problems[0]?.field);
    (first?.input || summary).focus();
  }

  function ready(b) {
    return b.name && b.datasetId && (modelType !== "llm" || b.config.baseModel);
  }

  function scheduleEstimate() {
    clearTimeout(estimateTimer);
    estimateTimer = setTimeout(runEstimate, ESTIMATE_DELAY_MS);
  }

  async function runEstimate() {
    const b = body();
    if (!ready(b)) return;
    const seq = ++estimateSeq;
    replace(estimateBox, h("p", { class: "hint" }, "Estimating…"));
    try {
      const e = await post("/v2/training/jobs:estimate", b, { signal: controller.signal });
      if (seq !== estimateSeq) return;
      clearErrors();
      replace(estimateBox, h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Estimated cost"), h("dd", { id: "estimate-total" }, money(e.estimatedCost.total))),
        h("div", {}, h("dt", {}, "Duration"), h("dd", { id: "estimate-duration" }, duration(e.estimatedDurationSeconds))),
        h("div", {}, h("dt", {}, "Price per hour"), h("dd", {}, `${money(e.estimatedCost.hourly)} (${e.workers} × ${e.gpusPerWorker} ${e.gpuType})`)),
        h("div", {}, h("dt", {}, "Checkpoint storage"), h("dd", {}, money(e.estimatedCost.storage)))),
        e.assumptions?.length ? h("ul", { class: "hint" }, e.assumptions.map((a) => h("li", {}, a))) : null);
    } catch (error) {
      if (seq !== estimateSeq || error?.name === "AbortError") return;
      if (!(error instanceof ApiError)) throw error;
      replace(estimateBox, h("p", { class: "hint" }, "No estimate until the marked fields are fixed."));
      showErrors(error, { focus: false });
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearTimeout(estimateTimer);
    estimateSeq++;
    submit.disabled = true;
    try {
      const job = await post("/v2/training/jobs", body(), { signal: controller.signal });
      page.navigate(`/ui/jobs/${encodeURIComponent(job.id)}`);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      replace(estimateBox, h("p", { class: "hint" }, "No estimate until the marked fields are fixed."));
      showErrors(error, { focus: true });
    } finally {
      submit.disabled = false;
    }
  });

  return () => {
    clearTimeout(estimateTimer);
    controller.abort();
  };
}

function setPath(target, path, value) {
  const parts = path.match(/[^.[\]]+/g);
  let node = target;
  for (let i = 0; i < parts.length - 1; i++) {
    const nextIsIndex = /^\d+$/.test(parts[i + 1]);
    node[parts[i]] ??= nextIsIndex ? [] : {};
    node = node[parts[i]];
  }
  node[parts[parts.length - 1]] = value;
}
