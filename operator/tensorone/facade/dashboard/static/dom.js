// Building the page from data: elements are created and text is set as text, never parsed as HTML, so a job
// name or a log line cannot inject markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

export function setText(el, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (el.textContent !== value) el.textContent = value;
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let toastTimer = null;
export function toast(message) {
  const el = document.getElementById("toast");
  setText(el, message);
  el.classList.add("visible");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove("visible"), 5000);
}

export const ACTIVE = new Set(["pending", "queued", "running", "stopping"]);
export const RESUMABLE = new Set(["stopped", "cancelled", "failed"]);

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

export const dash = "—";

export function num(value, digits = 4) {
  if (value === null || value === undefined || !Number.isFinite(value)) return dash;
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

export function money(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return dash;
  return "$" + (value < 1 ? value.toFixed(4) : value.toFixed(2));
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return dash;
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600), mm = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${String(mm).padStart(2, "0")}m`;
  if (mm) return `${mm}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

export function age(iso) {
  if (!iso) return dash;
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (seconds < 60) return `${Math.max(0, Math.floor(seconds))}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

export function when(iso) {
  if (!iso) return dash;
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function timeEl(iso, text) {
  return iso ? h("time", { datetime: iso, title: when(iso) }, text ?? when(iso)) : dash;
}

/** Run `fn` now and then every `ms` after each run ends, skipping while the tab is hidden; returns a stop. */
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      if (!document.hidden) await fn();
    } catch (error) {
      if (error?.name !== "AbortError") console.warn(error);
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
