/**
 * The console page in headless Chromium at 1M jobs: from navigation to a rendered overview (its
 * job counts on screen) and a rendered jobs page (its first rows on screen), each loaded afresh
 * (files, config, /me, the panel's read). Target: at most 1 s each. The panel's own API read is
 * printed beside it, so what the page adds on top of the API is visible.
 */
import type { Page } from "puppeteer-core";
import type { StackEnv } from "../scripts/stack/stack.ts";
import { launchChromium, signedInPage } from "../tests/_support/browser.ts";
import { type Figure, percentile } from "./stats.ts";

const VIEWS = [
  {
    name: "overview",
    hash: "#/overview",
    ready: "[data-stat=failed] .stat-value",
    read: "overview",
  },
  { name: "jobs page", hash: "#/jobs", ready: "tbody tr", read: "jobs, newest first" },
];

async function timeToRendered(page: Page, url: string, ready: string): Promise<number> {
  await page.goto("about:blank");
  const started = performance.now();
  await page.goto(url);
  await page.waitForSelector(ready, { timeout: 10_000 });
  return performance.now() - started;
}

/** `apiP95`: the API reads' p95 (ms) measured at the same size, by name. */
export async function pageFigures(
  env: StackEnv,
  token: string,
  apiP95: Map<string, number>,
  runs = 20,
): Promise<Figure[]> {
  const browser = await launchChromium();
  try {
    // Sign in once (the link's token goes to this tab's sessionStorage), as an operator would.
    const page = await signedInPage(browser, env.CONSOLE_URL, token);
    const figures: Figure[] = [];
    for (const view of VIEWS) {
      const url = `${env.CONSOLE_URL}/${view.hash}`;
      for (let i = 0; i < 3; i++) await timeToRendered(page, url, view.ready);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await timeToRendered(page, url, view.ready));
      times.sort((a, b) => a - b);
      const p50 = percentile(times, 50);
      const p95 = percentile(times, 95);
      figures.push({
        name:
          `console page in Chromium at 1M jobs: ${view.name} rendered, p50 / p95 (its API read p95)`,
        value: `${p50.toFixed(0)} / ${p95.toFixed(0)} ms (${apiP95.get(view.read)?.toFixed(1)} ms)`,
        target: "p95 <= 1000 ms",
        met: p95 <= 1000,
      });
    }
    return figures;
  } finally {
    await browser.close();
  }
}
