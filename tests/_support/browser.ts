/**
 * Headless Chromium for the console's browser test, its benchmark and its screenshots: Debian's
 * `chromium` (installed with apt when missing, as root, like the stack's other packages) driven
 * by puppeteer-core, which brings no browser of its own.
 */
import puppeteer, { type Browser } from "puppeteer-core";
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
