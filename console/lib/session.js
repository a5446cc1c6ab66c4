/**
 * Who is signed in, kept in this tab's sessionStorage (gone when the tab closes).
 *
 * Locally the stack prints sign-in links carrying a minted token in the URL fragment
 * (`#token=...`, never sent to any server); takeTokenFromUrl() stores it and removes it from the
 * URL and the history at once. On a hosted project operators sign in with an email one-time code
 * through Supabase Auth (sign-ups off, operators invited): sendCode() and verifyCode() are
 * Auth's /otp and /verify, refresh() its refresh-token grant.
 */
const KEY = "console.session";

/** The token's claims, for display and expiry only: console-api verifies the signature. */
export function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + (4 - part.length % 4) % 4, "=")));
  } catch {
    return {};
  }
}

function store(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function currentSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY) ?? "null");
    if (!session?.access_token) return null;
    const exp = claimsOf(session.access_token).exp;
    if (exp && exp * 1000 < Date.now() && !session.refresh_token) return null;
    return session;
  } catch {
    return null;
  }
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

/**
 * A sign-in link's token: stored, then removed from the address bar and the history (the
 * hashchange lets the router see the new location, which replaceState does not announce).
 */
export function takeTokenFromUrl() {
  const match = location.hash.match(/^#token=([A-Za-z0-9._-]+)/);
  if (!match) return null;
  history.replaceState(null, "", `${location.pathname}#/overview`);
  const session = store({ access_token: match[1] });
  dispatchEvent(new HashChangeEvent("hashchange"));
  return session;
}

async function auth(config, path, body) {
  const res = await fetch(`${config.apiUrl}/auth/v1/${path}`, {
    method: "POST",
    headers: { apikey: config.anonKey, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    throw new Error(
      data.msg ?? data.error_description ?? data.message ?? `Auth answered ${res.status}`,
    );
  }
  return data;
}

/** Emails a one-time code; create_user false: only invited operators get one. */
export function sendCode(config, email) {
  return auth(config, "otp", { email, create_user: false });
}

export async function verifyCode(config, email, code) {
  const data = await auth(config, "verify", { type: "email", email, token: code });
  return store({ access_token: data.access_token, refresh_token: data.refresh_token });
}

let refreshing = null;

/**
 * The access token to send now: the stored one, or a fresh one (one refresh at a time, however
 * many panels ask) when it expires within a minute and there is a refresh token. Null when
 * signed out or expired for good.
 */
export async function accessToken(config) {
  const session = currentSession();
  if (!session) return null;
  const exp = claimsOf(session.access_token).exp ?? Infinity;
  if (!session.refresh_token || exp * 1000 - Date.now() > 60_000) return session.access_token;
  refreshing ??= auth(config, "token?grant_type=refresh_token", {
    refresh_token: session.refresh_token,
  }).then(
    (data) => store({ access_token: data.access_token, refresh_token: data.refresh_token }),
    () => null,
  ).finally(() => (refreshing = null));
  return (await refreshing)?.access_token ?? null;
}
