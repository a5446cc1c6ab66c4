/**
 * The operator console: signs the operator in, asks console-api who they are, and shows one
 * panel at a time (only it polls). Configuration comes from ./config.json next to this file:
 * `{"apiUrl": "https://<ref>.supabase.co", "anonKey": "...", "signIn": "email" | "token"}`.
 */
import { html, render, useEffect, useMemo, useState } from "./vendor/preact-htm.mjs";
import { createApi } from "./lib/api.js";
import { useRoute } from "./lib/route.js";
import { accessToken, claimsOf, currentSession, signOut, takeTokenFromUrl } from "./lib/session.js";
import { Badge, Problem } from "./lib/ui.js";
import { SignIn } from "./signin.js";
import { Overview } from "./panels/overview.js";
import { Jobs } from "./panels/jobs.js";
import { JobDetail } from "./panels/job.js";
import { Leases } from "./panels/leases.js";
import { Workers } from "./panels/workers.js";
import { RateLimits } from "./panels/rate_limits.js";
import { Dlq } from "./panels/dlq.js";
import { Alerts } from "./panels/alerts.js";
import { Schedules } from "./panels/schedules.js";
import { Operations } from "./panels/operations.js";

const PANELS = [
  ["overview", "Overview", Overview],
  ["jobs", "Jobs", Jobs],
  ["leases", "Leases", Leases],
  ["workers", "Workers", Workers],
  ["rate-limits", "Rate limits", RateLimits],
  ["dlq", "Dead letters", Dlq],
  ["alerts", "Alerts", Alerts],
  ["schedules", "Schedules", Schedules],
  ["operations", "Operations", Operations],
];

/**
 * A view per URL: another panel, job or filter mounts afresh (its pages, form fields and any
 * dry-run count belong to the URL they were made for).
 */
function viewKey(route) {
  return `${route.panel}/${route.rest.join("/")}?${new URLSearchParams(route.params)}`;
}

function Shell({ config, session, onSignOut }) {
  const route = useRoute();
  const [me, setMe] = useState(null);
  const [error, setError] = useState(null);
  // One client for the session: panels keep the one they got, and it always sends the latest
  // (refreshed) token from sessionStorage.
  const api = useMemo(() =>
    createApi({
      apiUrl: config.apiUrl,
      anonKey: config.anonKey,
      token: () => accessToken(config),
      onUnauthorized: onSignOut,
    }), [session]);
  useEffect(() => {
    api.get("/me").then(setMe, setError);
  }, [api]);
  if (error) {
    return html`<main class="center"><${Problem} error=${error} />
      <button onClick=${onSignOut}>Sign in again</button></main>`;
  }
  if (!me) return html`<main class="center" aria-busy="true">Checking your role…</main>`;
  const [, , Panel] = PANELS.find(([name]) => name === route.panel) ?? PANELS[0];
  const View = route.panel === "jobs" && route.rest[0] ? JobDetail : Panel;
  const email = claimsOf(session.access_token).email ?? me.actor;
  return html`
    <a class="skip" href="#main" onClick=${(e) => {
      e.preventDefault();
      document.getElementById("main")?.focus();
    }}>Skip to content</a>
    <header class="top">
      <strong>Job queue console</strong>
      <span class="muted api-url">${new URL(config.apiUrl).host}</span>
      <span class="who"><${Badge} value=${me.role} /> ${email}
        <button class="secondary small" onClick=${onSignOut}>Sign out</button></span>
    </header>
    <div class="layout">
      <nav class="side" aria-label="Panels">
        <ul>
        ${PANELS.map(([name, title]) =>
          html`<li><a href=${`#/${name}`} aria-current=${
            route.panel === name ? "page" : undefined
          }>${title}</a></li>`
        )}
      </ul>
      </nav>
      <main id="main" tabindex="-1">
        <${View} key=${viewKey(route)} api=${api} me=${me} route=${route} />
      </main>
    </div>
  `;
}

function App({ config }) {
  const [session, setSession] = useState(() => takeTokenFromUrl() ?? currentSession());
  // A sign-in link opened in a tab already on the console changes only the fragment.
  useEffect(() => {
    const onHash = () => {
      const fresh = takeTokenFromUrl();
      if (fresh) setSession(fresh);
    };
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);
  const out = () => {
    signOut();
    setSession(null);
  };
  if (!session) return html`<${SignIn} config=${config} onSignedIn=${setSession} />`;
  return html`<${Shell} config=${config} session=${session} onSignOut=${out} />`;
}

async function start() {
  const root = document.getElementById("app");
  try {
    const res = await fetch("./config.json", { cache: "no-store" });
    if (!res.ok) throw new Error(`config.json: ${res.status}`);
    const config = await res.json();
    if (!config.apiUrl) throw new Error("config.json has no apiUrl");
    root.textContent = "";
    render(html`<${App} config=${config} />`, root);
  } catch (error) {
    root.textContent = `The console cannot start: ${error.message}. ` +
      "Put a config.json beside index.html (see the README).";
  }
}

start();
