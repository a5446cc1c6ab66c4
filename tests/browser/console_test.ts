/**
 * The operator console in a real browser (Debian's Chromium, headless, via puppeteer-core)
 * against the running test stack: the console served by the stack, console-api through the
 * gateway, tokens verified through the stack's JWKS, the shipped rate limits.
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "puppeteer-core";
import { mintConsoleToken, stackSigningKey } from "../../scripts/console_token.ts";
import { launchChromium, signedInPage } from "../_support/browser.ts";
import { seedJobs, withCustomer } from "../_support/console_jobs.ts";
import { connect, first, testStack } from "../_support/stack.ts";

const stack = testStack();
const signingKey = stackSigningKey(stack.stateDir);
const token = (role: "viewer" | "operator") =>
  mintConsoleToken(signingKey, { role, email: `${role}@example.com`, issuer: stack.apiUrl });
const consoleOrigin = new URL(stack.consoleUrl).origin;
const apiOrigin = new URL(stack.apiUrl).origin;
const WAIT = { timeout: 15_000 };

interface Visit {
  page: Page;
  /** Every URL the page asked for, with its kind (document, script, fetch, ...). */
  requests: { url: string; type: string }[];
  problems: string[];
}

/**
 * Signs in with a sign-in link (the token in the fragment), as the stack prints them, then opens
 * `hash`. Every request and every page error or console error is recorded.
 */
async function visit(browser: Browser, role: "viewer" | "operator", hash: string): Promise<Visit> {
  const requests: Visit["requests"] = [];
  const problems: string[] = [];
  const page = await signedInPage(browser, stack.consoleUrl, await token(role), (p) => {
    p.on("request", (r) => requests.push({ url: r.url(), type: r.resourceType() }));
    p.on("pageerror", (e) => problems.push(`page error: ${(e as Error).message}`));
    p.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  });
  // Signed in, and the token is gone from the address bar at once.
  assert.doesNotMatch(page.url(), /token/);
  await go(page, hash);
  return { page, requests, problems };
}

/**
 * Opens another panel and waits for it, not the one before: the panel on screen is marked
 * first, and a new panel is a new element (each view is keyed on its route).
 */
async function go(page: Page, hash: string): Promise<void> {
  // A string: it runs in the page, where `document` is (Deno's types have none).
  const h = JSON.stringify(hash);
  // The tab an operator looks at: a hidden one polls nothing and draws late.
  await page.bringToFront();
  await page.evaluate(`if (location.hash !== ${h}) {
    document.querySelector("section.panel")?.setAttribute("data-left", "");
    location.hash = ${h};
  }`);
  await page.waitForSelector("section.panel[aria-busy=false]:not([data-left])", WAIT).catch(
    (e) => {
      throw new Error(`${hash} did not render: ${e.message}`);
    },
  );
}

/** The page asked only its own origin (files) and the project (console-api), and hit no error. */
function assertClean(v: Visit): void {
  assert.deepEqual(v.problems, []);
  for (const r of v.requests) {
    // Inline images of the stylesheet (Pico's spinner) are no request to anyone.
    if (r.url.startsWith("data:")) continue;
    const origin = new URL(r.url).origin;
    // console-api's calls and their CORS preflights.
    if (origin === apiOrigin && new URL(r.url).pathname.startsWith("/functions/v1/console-api/")) {
      continue;
    }
    assert.equal(origin, consoleOrigin, `${r.type} ${r.url} came from another origin`);
  }
}

async function texts(page: Page, selector: string): Promise<string[]> {
  return await page.$$eval(
    selector,
    (els) => els.map((e) => (e.textContent ?? "").replace(/\s+/g, " ").trim()),
  );
}

async function withBrowser(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const browser = await launchChromium();
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

async function jobStatus(id: string): Promise<{ status: string; error_message: string | null }> {
  const sql = connect(stack.dbUrl);
  try {
    return first(
      await sql<{ status: string; error_message: string | null }[]>`
      select status, error_message from public.jobs where id = ${id}`,
    );
  } finally {
    await sql.end();
  }
}

Deno.test("console: the overview shows the real counts of the seeded jobs, and the token leaves the URL", () =>
  withCustomer(stack.dbUrl, "browser-overview", (customer) =>
    withBrowser(async (browser) => {
      await seedJobs(stack.dbUrl, customer, 3, 2);
      const sql = connect(stack.dbUrl);
      const counts: Record<string, number> = Object.fromEntries(
        (await sql<{ status: string; n: string }[]>`
          select status, count(*)::text as n from public.jobs group by status`)
          .map((r) => [r.status, Number(r.n)]),
      );
      await sql.end();
      assert.ok((counts.pending ?? 0) >= 3 && (counts.failed ?? 0) >= 2);
      const v = await visit(browser, "viewer", "#/overview");
      for (const status of ["pending", "in_progress", "failed", "completed"]) {
        const shown = await v.page.$eval(
          `[data-stat=${status}] .stat-value`,
          (e) => e.textContent ?? "",
        );
        assert.equal(Number(shown.replace(/[^\d]/g, "")), counts[status] ?? 0, status);
      }
      assert.doesNotMatch(v.page.url(), /token/);
      // Another sign-in link opened in this tab (only the fragment changes): it signs in too,
      // and leaves the URL as well.
      await v.page.evaluate(`location.hash = "#token=${await token("operator")}"`);
      await v.page.waitForSelector(".who .badge-operator", WAIT);
      assert.doesNotMatch(v.page.url(), /token/);
      assertClean(v);
    })));

Deno.test("console: a failed job is found by its id and retried, and its row changes", () =>
  withCustomer(stack.dbUrl, "browser-retry", (customer) =>
    withBrowser(async (browser) => {
      const [id] = await seedJobs(stack.dbUrl, customer, 0, 1);
      const v = await visit(browser, "operator", "#/jobs");
      await v.page.type("input[name=id]", id!);
      await v.page.click("button::-p-text(Go to job)");
      await v.page.waitForSelector(`tbody a[href="#/jobs/${id}"]`, WAIT);
      assert.equal((await texts(v.page, "tbody tr")).length, 1);
      assert.deepEqual(await texts(v.page, "tbody .badge"), ["failed"]);
      await v.page.click("tbody button::-p-text(Retry)");
      await v.page.waitForSelector("tbody .badge-pending", WAIT);
      assert.equal(await v.page.$("tbody button::-p-text(Retry)"), null);
      assert.equal((await jobStatus(id!)).status, "pending");
      assertClean(v);
    })));

Deno.test("console: a bulk cancel on a filter shows its dry-run count, then its result", () =>
  withCustomer(stack.dbUrl, "browser-bulk", (customer) =>
    withBrowser(async (browser) => {
      const ids = await seedJobs(stack.dbUrl, customer, 7, 2);
      const v = await visit(browser, "operator", `#/jobs?customer_id=${customer}`);
      await v.page.click("button::-p-text(Cancel the pending ones)");
      const dryRun = await v.page.waitForSelector(".dry-run", WAIT);
      assert.equal(await dryRun!.evaluate((e) => e.getAttribute("data-matching")), "7");
      assert.match((await texts(v.page, ".dry-run"))[0]!, /7 jobs would be cancelled/);
      // Nothing changed yet.
      assert.equal((await jobStatus(ids[2]!)).status, "pending");
      // Another filter drops the count (it was this filter's), and asks afresh when back.
      await v.page.evaluate(`location.hash = "#/jobs?status=failed"`);
      await v.page.waitForFunction(`!document.querySelector(".dry-run")`, WAIT);
      await v.page.evaluate(`location.hash = ${JSON.stringify(`#/jobs?customer_id=${customer}`)}`);
      await v.page.click("button::-p-text(Cancel the pending ones)");
      await v.page.waitForSelector(".dry-run[data-matching='7']", WAIT);
      await v.page.click("button::-p-text(Cancel 7 jobs)");
      await v.page.waitForSelector(".operation-result .badge-done", WAIT);
      assert.match((await texts(v.page, ".operation-result"))[0]!, /7 processed, 7 changed/);
      for (const id of ids.slice(2)) {
        const job = await jobStatus(id);
        assert.equal(job.status, "failed");
        assert.match(job.error_message ?? "", /^Cancelled by operator@example\.com/);
      }
      // The two failed jobs were not pending: untouched.
      assert.equal((await jobStatus(ids[0]!)).error_message, "Directory rejected the submission");
      assertClean(v);
    })));

Deno.test("console: a viewer sees the same jobs and no action at all", () =>
  withCustomer(stack.dbUrl, "browser-viewer", (customer) =>
    withBrowser(async (browser) => {
      const [failed] = await seedJobs(stack.dbUrl, customer, 1, 1);
      // What an action looks like on each page: its buttons, the redrive form's field.
      const actions = async (page: Page) => [
        ...(await texts(page, "button")).filter((t) => /retry|cancel|redrive|dry run/i.test(t)),
        ...(await texts(page, "input[name=limit]")).map(() => "redrive limit"),
      ];
      const pages = [`#/jobs?customer_id=${customer}`, `#/jobs/${failed}`, "#/dlq"];
      const v = await visit(browser, "viewer", pages[0]!);
      assert.equal((await texts(v.page, "tbody tr")).length, 2, "the viewer sees both jobs");
      const o = await visit(browser, "operator", pages[0]!);
      for (const hash of pages) {
        await go(v.page, hash);
        await go(o.page, hash);
        assert.deepEqual(await actions(v.page), [], `a viewer on ${hash}`);
        // The same page offers them to an operator (so the check above can fail).
        assert.notDeepEqual(await actions(o.page), [], `an operator on ${hash}`);
      }
      assertClean(v);
      assertClean(o);
    })));

Deno.test("console: every panel renders under a strict CSP, loading nothing from another origin", () =>
  withBrowser(async (browser) => {
    const v = await visit(browser, "operator", "#/overview");
    const res = await fetch(`${stack.consoleUrl}/`);
    await res.body?.cancel();
    assert.match(res.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    const panels = await v.page.$$eval("nav.side a", (as) => as.map((a) => a.getAttribute("href")));
    assert.equal(panels.length, 9);
    for (const hash of panels) {
      await go(v.page, hash!);
      const title = await v.page.$eval("section.panel h2", (e) => e.textContent ?? "");
      assert.ok(title.length > 0, hash!);
      assert.deepEqual(await texts(v.page, ".api-error"), [], hash!);
    }
    assert.ok(
      v.requests.some((r) => r.url.startsWith(`${stack.apiUrl}/functions/v1/console-api/`)),
    );
    assertClean(v);
  }));

Deno.test("console: a hidden tab asks nothing, and asks at once when shown again; Tab reaches the page", () =>
  withBrowser(async (browser) => {
    const v = await visit(browser, "viewer", "#/overview");
    const asked = () =>
      v.requests.filter((r) => r.url.endsWith("/console-api/overview") && r.type === "fetch")
        .length;
    // The overview polls every 10 s while visible.
    const before = asked();
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    assert.ok(asked() > before, "a visible overview polls");
    // Hidden (another tab in front): the page sees what a browser reports.
    await v.page.evaluate(
      `Object.defineProperty(document, "hidden", { value: true, configurable: true });
      document.dispatchEvent(new Event("visibilitychange"))`,
    );
    const hidden = asked();
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    assert.equal(asked(), hidden, "a hidden tab asks nothing");
    await v.page.evaluate(
      `Object.defineProperty(document, "hidden", { value: false, configurable: true });
      document.dispatchEvent(new Event("visibilitychange"))`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(asked(), hidden + 1, "shown again, it asks at once");
    // The first Tab stop is the skip link, and it leads to the panel.
    await v.page.keyboard.press("Tab");
    assert.equal(await v.page.evaluate(`document.activeElement.textContent`), "Skip to content");
    await v.page.keyboard.press("Enter");
    assert.equal(await v.page.evaluate(`document.activeElement.id`), "main");
    assertClean(v);
  }));
