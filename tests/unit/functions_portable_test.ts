/**
 * What Supabase's Edge Runtime needs of each function: it type-checks on its own, imports only
 * pinned npm: packages (through deno.json) or relative files, and never writes to the file
 * system or starts processes.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { projectRoot } from "../../scripts/stack/profile.ts";

const functionsDir = join(projectRoot, "supabase", "functions");

function slugs(): string[] {
  return [...Deno.readDirSync(functionsDir)]
    .filter((e) => e.isDirectory && !e.name.startsWith("_"))
    .map((e) => e.name)
    .sort();
}

function sources(dir = functionsDir): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory) return sources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

Deno.test("every function type-checks on its own", async () => {
  for (const slug of slugs()) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", join("supabase", "functions", slug, "index.ts")],
      cwd: projectRoot,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, `${slug}: ${new TextDecoder().decode(out.stderr)}`);
  }
});

Deno.test("functions import only pinned npm: packages and their own files", () => {
  const imports: Record<string, string> =
    JSON.parse(Deno.readTextFileSync(join(projectRoot, "deno.json"))).imports;
  const specifier = /(?:^|\n)\s*(?:import|export)\b[^"']*?from\s+["']([^"']+)["']/g;
  const packages = new Set<string>();
  for (const file of sources()) {
    const text = Deno.readTextFileSync(file);
    for (const [, spec] of text.matchAll(specifier)) {
      if (spec!.startsWith(".") || spec!.startsWith("node:")) continue;
      packages.add(spec!);
      const target = imports[spec!];
      assert.ok(target, `${relative(projectRoot, file)} imports '${spec}', not in deno.json`);
      assert.match(target, /^npm:(@[^/]+\/)?[^@]+@\d+\.\d+\.\d+$/, `${spec} is pinned exactly`);
    }
  }
  for (const expected of ["pg", "@aws-sdk/client-sqs", "jose"]) {
    assert.ok(packages.has(expected), `the scan sees the functions' import of ${expected}`);
  }
});

Deno.test("functions never write files or start processes", () => {
  const forbidden =
    /Deno\.(write|writeFile|writeTextFile|mkdir|remove|rename|create|truncate|Command|run|openKv)\b|node:(fs|child_process)/;
  for (const file of sources()) {
    const match = forbidden.exec(Deno.readTextFileSync(file));
    assert.equal(match, null, `${relative(projectRoot, file)} uses ${match?.[0]}`);
  }
});
