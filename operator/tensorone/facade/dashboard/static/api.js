// The /v2 REST API as the dashboard uses it: the API key from this browser tab's session, JSON errors as
// ApiError, and conditional GETs (ETag / If-None-Match) so polling an unchanged job costs no body.

const KEY_NAME = "tensorone.apiKey";
const ETAG_CACHE_LIMIT = 300;
const etags = new Map(); // path -> {etag, data}

export const session = {
  key: () => sessionStorage.getItem(KEY_NAME),
  signIn: (key) => sessionStorage.setItem(KEY_NAME, key),
  signOut: () => {
    sessionStorage.removeItem(KEY_NAME);
    etags.clear();
  },
};

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `The API answered HTTP ${status}`);
    this.status = status;
    this.code = body?.error || "HTTP_" + status;
    this.details = body?.details || {};
  }
}

const listeners = new Set();
/** Called with no argument when the API refuses the key (401): the page goes back to sign-in. */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

function headers(extra) {
  return { Authorization: `Bearer ${session.key() || ""}`, ...extra };
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = new ApiError(response.status, body);
  if (response.status === 401) for (const fn of listeners) fn();
  return error;
}

/** GET `path` as JSON; `changed` is false when the server confirmed (304) the copy we already hold. */
export async function getJson(path, { signal } = {}) {
  const cached = etags.get(path);
  const response = await fetch(path, {
    headers: headers(cached ? { "If-None-Match": cached.etag } : {}),
    cache: "no-store",
    signal,
  });
  if (response.status === 304 && cached) return { data: cached.data, changed: false };
  if (!response.ok) throw await failure(response);
  const data = await response.json();
  const etag = response.headers.get("ETag");
  if (etag) {
    if (etags.size >= ETAG_CACHE_LIMIT) etags.delete(etags.keys().next().value);
    etags.set(path, { etag, data });
  }
  return { data, changed: true };
}

export async function get(path, options) {
  return (await getJson(path, options)).data;
}

export async function post(path, body, { signal } = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body ?? {}),
    cache: "no-store",
    signal,
  });
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

export async function getText(path, { signal } = {}) {
  const response = await fetch(path, { headers: headers(), cache: "no-store", signal });
  if (!response.ok) throw await failure(response);
  return response.text();
}

/** Stream a text response (a followed log), calling `onText` with each decoded piece until it ends. */
export async function streamText(path, onText, { signal } = {}) {
  const response = await fetch(path, { headers: headers(), cache: "no-store", signal });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    onText(decoder.decode(value, { stream: true }));
  }
  const rest = decoder.decode();
  if (rest) onText(rest);
}

export function jobPath(id, suffix = "") {
  return `/v2/training/jobs/${encodeURIComponent(id)}${suffix}`;
}
