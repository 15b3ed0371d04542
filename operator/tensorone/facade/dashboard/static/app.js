// The dashboard's entry: one page, routes resolved here from the URL (/ui/jobs, /ui/jobs/<id>, /ui/new).
import { ApiError, get, onUnauthorized, session } from "./api.js";
import { h, replace } from "./dom.js";
import { renderCreate } from "./pages/create.js";
import { renderJob } from "./pages/job.js";
import { renderJobs } from "./pages/jobs.js";

const main = document.getElementById("main");
const signOutButton = document.getElementById("sign-out");
let leavePage = null;
let checkingKey = false; // a refused key on the sign-in form is answered there, not by a fresh sign-in page

export function navigate(url, { replace: replaceEntry = false } = {}) {
  history[replaceEntry ? "replaceState" : "pushState"](null, "", url);
  route();
}

function setTitle(title) {
  document.title = title ? `${title} · TensorOne Training` : "TensorOne Training";
}

export function renderNotFound(what) {
  setTitle("Not found");
  replace(
    main,
    h("h1", {}, "Not found"),
    h("p", { class: "lead", "data-testid": "not-found" }, `No ${what} here: it does not exist, or this API key cannot see it.`),
    h("p", {}, h("a", { href: "/ui/jobs" }, "Back to the jobs")),
  );
}

function route() {
  if (leavePage) leavePage();
  leavePage = null;
  main.replaceChildren();
  const signedIn = Boolean(session.key());
  signOutButton.hidden = !signedIn;
  for (const link of document.querySelectorAll(".topbar nav a")) {
    const current = location.pathname === link.getAttribute("href");
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const page = { main, navigate, setTitle, notFound: renderNotFound };
  if (!signedIn) {
    renderSignIn(page);
  } else {
    const path = location.pathname.replace(/\/+$/, "");
    const job = path.match(/^\/ui\/jobs\/([^/]+)$/);
    if (path === "/ui" || path === "/ui/jobs") leavePage = renderJobs(page, new URLSearchParams(location.search));
    else if (job) leavePage = renderJob(page, decodeURIComponent(job[1]));
    else if (path === "/ui/new") leavePage = renderCreate(page);
    else renderNotFound("page");
  }
  main.focus({ preventScroll: true });
}

function renderSignIn(page) {
  page.setTitle("Sign in");
  const input = h("input", {
    id: "api-key", name: "api-key", type: "password", autocomplete: "off", spellcheck: "false",
    required: true, "aria-describedby": "api-key-hint api-key-error",
  });
  const error = h("p", { id: "api-key-error", class: "field-error", hidden: true });
  const form = h(
    "form",
    { class: "card narrow", novalidate: true },
    h("h1", {}, "Sign in"),
    h("div", { class: "field" },
      h("label", { for: "api-key" }, "API key"),
      input,
      h("p", { id: "api-key-hint", class: "hint" },
        "Kept in this browser tab only (sessionStorage); it is sent to this server's /v2 API and nowhere else."),
      error),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    if (!key) return showError("Enter an API key.");
    session.signIn(key);
    checkingKey = true;
    try {
      await get("/v2/training/jobs?limit=1");
      checkingKey = false;
      route();
    } catch (e) {
      checkingKey = false;
      session.signOut();
      showError(e instanceof ApiError && e.status === 401 ? "This API key is not valid." : e.message);
    }
  });
  function showError(message) {
    error.textContent = message;
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
  replace(page.main, form);
  setTimeout(() => input.focus(), 0);
}

signOutButton.addEventListener("click", () => {
  session.signOut();
  navigate("/ui/jobs");
});

onUnauthorized(() => {
  if (checkingKey) return;
  session.signOut();
  route();
});

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href^='/ui']");
  if (!link || link.target || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", route);
route();
