/**
 * Sign-in. Hosted: an email one-time code through Supabase Auth (only invited operators get a
 * code; their role is in app_metadata). Locally there is no Auth server: the stack prints
 * sign-in links with minted tokens (`deno task start`, or `deno task console:token`).
 */
import { html, useState } from "./vendor/preact-htm.mjs";
import { sendCode, verifyCode } from "./lib/session.js";

export function SignIn({ config, onSignedIn }) {
  const [email, setEmail] = useState("");
  const [code, setCode] = useState("");
  const [sent, setSent] = useState(false);
  const [state, setState] = useState({ busy: false, error: null });
  if (config.signIn !== "email") {
    return html`
      <main class="center signin">
        <h1>Job queue console</h1>
        <p>${"Open one of the sign-in links "}<code>deno task start</code>${" printed, or mint a token with "}<code>deno task console:token --role viewer</code>${" and open "}<code>${`${location.origin}${location.pathname}#token=<token>`}</code>.</p>
      </main>
    `;
  }
  const submit = async (e) => {
    e.preventDefault();
    setState({ busy: true, error: null });
    try {
      if (!sent) {
        await sendCode(config, email.trim());
        setSent(true);
        setState({ busy: false, error: null });
      } else {
        onSignedIn(await verifyCode(config, email.trim(), code.trim()));
      }
    } catch (error) {
      setState({ busy: false, error: error.message });
    }
  };
  return html`
    <main class="center signin">
      <h1>Job queue console</h1>
      <form onSubmit=${submit}>
          <label>Email<input type="email" required autocomplete="email" value=${email}
            disabled=${sent} onInput=${(e) => setEmail(e.target.value)} /></label>
          ${sent
            ? html`<label>The code we emailed you<input inputmode="numeric" required
            autocomplete="one-time-code" value=${code} onInput=${(e) =>
              setCode(e.target.value)} /></label>`
            : null}
          ${state.error ? html`<p class="problem" role="alert">${state.error}</p>` : null}
          <button type="submit" aria-busy=${state.busy ? "true" : "false"} disabled=${state.busy}>
            ${sent ? "Sign in" : "Email me a code"}</button>
        </form>
    </main>
  `;
}
