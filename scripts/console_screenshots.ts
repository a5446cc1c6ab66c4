/**
 * `deno task console:screenshots [--profile dev]`: pictures of the console's main panels, light
 * and dark, from the running stack, into docs/console/ (shown in the README). Headless Chromium
 * signs in with an operator token minted for the stack, as the stack's sign-in links do. What
 * they show is whatever the stack holds: run `deno task demo` first for something to look at.
 */
import { join } from "node:path";
import { launchChromium, signedInPage } from "../tests/_support/browser.ts";
import { mintConsoleToken, stackSigningKey } from "./console_token.ts";
import { profileFromArgs, projectRoot } from "./stack/profile.ts";
import { runningStackEnv } from "./stack/running.ts";

const SHOTS: { panel: string; schemes: ("light" | "dark")[] }[] = [
  { panel: "overview", schemes: ["light", "dark"] },
  { panel: "jobs", schemes: ["light", "dark"] },
  { panel: "leases", schemes: ["light"] },
  { panel: "rate-limits", schemes: ["light"] },
  { panel: "dlq", schemes: ["dark"] },
  { panel: "operations", schemes: ["light"] },
];

if (import.meta.main) {
  const p = profileFromArgs(Deno.args);
  const env = runningStackEnv(p);
  const token = await mintConsoleToken(stackSigningKey(p.stateDir), {
    role: "operator",
    email: "ops@example.com",
    issuer: env.API_URL,
  });
  const out = join(projectRoot, "docs", "console");
  Deno.mkdirSync(out, { recursive: true });
  const browser = await launchChromium();
  try {
    const page = await signedInPage(browser, env.CONSOLE_URL, token);
    await page.setViewport({ width: 1280, height: 860 });
    for (const { panel, schemes } of SHOTS) {
      for (const scheme of schemes) {
        await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: scheme }]);
        await page.goto(`${env.CONSOLE_URL}/#/${panel}`);
        await page.waitForSelector("section.panel[aria-busy=false]", { timeout: 10_000 });
        // Charts draw on the next frame.
        await new Promise((resolve) => setTimeout(resolve, 500));
        const file = join(out, `${panel}-${scheme}.png`);
        await page.screenshot({ path: file as `${string}.png` });
        console.log(`wrote ${file}`);
      }
    }
  } finally {
    await browser.close();
  }
}
