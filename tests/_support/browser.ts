/**
 * Headless Chromium for the console's browser test, its benchmark and its screenshots: Debian's
 * `chromium` (installed with apt when missing, as root, like the stack's other packages) driven
 * by puppeteer-core, which brings no browser of its own.
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { CHROMIUM, ensurePackages } from "../../scripts/stack/packages.ts";

export async function launchChromium(): Promise<Browser> {
  await ensurePackages(console.log, [CHROMIUM]);
  return await puppeteer.launch({
    executablePath: CHROMIUM.file,
    headless: true,
    // As root Chromium needs --no-sandbox; it only ever loads our local console.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
}

/**
 * A page signed in to the console the way the stack's sign-in links do it (the token in the
 * fragment); `watch` sees the page before it loads anything (to record requests and errors).
 */
export async function signedInPage(
  browser: Browser,
  consoleUrl: string,
  token: string,
  watch: (page: Page) => void = () => {},
): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  watch(page);
  await page.goto(`${consoleUrl}/#token=${token}`);
  await page.waitForSelector("header.top", { timeout: 15_000 });
  return page;
}
