/**
 * `deno task console:vendor`: copies the console's browser libraries from their pinned npm
 * packages (versions in deno.json's imports, integrity in deno.lock) into console/vendor/, with
 * their licences, so console/ is a folder any static host can serve as it is: no build step, no
 * CDN. The local stack and `deno task console` run it themselves; it does nothing when up to date.
 */
import { dirname, join } from "node:path";
import { projectRoot } from "./stack/profile.ts";

/** package (deno.json import name) → [file in the package, name in vendor/]. */
const FILES: Record<string, [string, string][]> = {
  // Preact, its hooks and htm (JSX-like templates without a build) in one ES module.
  htm: [["preact/standalone.mjs", "preact-htm.mjs"], ["LICENSE", "LICENSES/htm.txt"]],
  // Only its licence: preact/standalone.mjs above has Preact inside.
  preact: [["LICENSE", "LICENSES/preact.txt"]],
  uplot: [
    ["dist/uPlot.esm.js", "uPlot.esm.js"],
    ["dist/uPlot.min.css", "uPlot.min.css"],
    ["LICENSE", "LICENSES/uplot.txt"],
  ],
  "@picocss/pico": [
    ["css/pico.classless.min.css", "pico.classless.min.css"],
    ["LICENSE.md", "LICENSES/pico.txt"],
  ],
};

export const CONSOLE_DIR = join(projectRoot, "console");

function specifiers(): Record<string, string> {
  const imports = JSON.parse(Deno.readTextFileSync(join(projectRoot, "deno.json"))).imports;
  return Object.fromEntries(Object.keys(FILES).map((name) => [name, imports[name] as string]));
}

async function deno(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: projectRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (code !== 0) throw new Error(`deno ${args.join(" ")} failed: ${text.decode(stderr).trim()}`);
  return text.decode(stdout);
}

/** Where Deno keeps npm:name@version (after `deno cache`). */
function packageDir(npmCache: string, specifier: string): string {
  const [, name, version] = specifier.match(/^npm:(@?[^@]+)@(.+)$/) ?? [];
  if (!name || !version) throw new Error(`Cannot vendor '${specifier}': not npm:name@version`);
  return join(npmCache, "registry.npmjs.org", name, version);
}

/** What vendor/README.md says for these versions: the record of what was copied. */
function manifest(specs: Record<string, string>): string {
  const lines = ["# Vendored browser files, copied by `deno task console:vendor`\n"];
  for (const [name, files] of Object.entries(FILES)) {
    for (const [file, to] of files) lines.push(`- \`${to}\`: \`${file}\` of ${specs[name]}`);
  }
  return lines.join("\n") + "\n";
}

function readOr(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Copies the files, unless vendor/ already holds these versions (every stack start calls this:
 * then it costs one file read, not two Deno subprocesses).
 */
export async function vendorConsole(dest: string = join(CONSOLE_DIR, "vendor")): Promise<void> {
  const specs = specifiers();
  const record = manifest(specs);
  const copied = Object.values(FILES).flat().every(([, to]) =>
    readOr(join(dest, to)) !== undefined
  );
  if (copied && readOr(join(dest, "README.md")) === record) return;
  await deno(["cache", ...Object.values(specs)]);
  const { npmCache } = JSON.parse(await deno(["info", "--json"]));
  for (const [name, files] of Object.entries(FILES)) {
    const from = packageDir(npmCache, specs[name]!);
    for (const [file, to] of files) {
      Deno.mkdirSync(dirname(join(dest, to)), { recursive: true });
      Deno.copyFileSync(join(from, file), join(dest, to));
    }
  }
  // Written last: it marks a complete copy.
  Deno.writeTextFileSync(join(dest, "README.md"), record);
}

if (import.meta.main) {
  await vendorConsole();
  console.log(`Copied the console's libraries into ${join(CONSOLE_DIR, "vendor")}`);
}
