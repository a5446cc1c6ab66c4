/**
 * Migrations are history: once deployed, never edited. A later migration that replaces a
 * function or view an earlier one created must say so in its header ("Replaces private.x() from
 * <migration>"), so a reader of the history knows the earlier body is dead text; the live one is
 * in supabase/schema.sql.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { projectRoot } from "../../scripts/stack/profile.ts";

const dir = join(projectRoot, "supabase", "migrations");
const migrations = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".sql"))
  .sort().map((name) => ({ name, text: Deno.readTextFileSync(join(dir, name)) }));

/** The leading comment block of a migration. */
function header(text: string): string {
  return text.split("\n").filter((_, i, lines) =>
    lines.slice(0, i + 1).every((l) => l.startsWith("--"))
  )
    .join("\n");
}

/** Functions and views a migration creates or replaces, as schema.name. */
function definitions(text: string): { name: string; replaces: boolean }[] {
  return [...text.matchAll(/create (or replace )?(?:function|view) ([a-z_]+\.[a-z_]+)/gi)]
    .map((m) => ({ name: m[2]!.toLowerCase(), replaces: !!m[1] }));
}

/** Which migrations replace an earlier definition without naming it in their header. */
export function unannouncedReplacements(files: { name: string; text: string }[]): string[] {
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const { name, text } of files) {
    for (const def of definitions(text)) {
      const earlier = seen.get(def.name);
      if (
        def.replaces && earlier && earlier !== name &&
        !new RegExp(`Replaces ${def.name.replace(".", "\\.")}\\b`).test(header(text))
      ) {
        problems.push(
          `${name} replaces ${def.name} (from ${earlier}) without "Replaces ${def.name}" in its header`,
        );
      }
      if (!seen.has(def.name)) seen.set(def.name, name);
    }
  }
  return problems;
}

Deno.test("every migration opens with a header comment saying what it does", () => {
  for (const { name, text } of migrations) {
    assert.ok(header(text).length > 40, `${name} has a header`);
  }
});

Deno.test("no migration replaces an earlier body without saying so in its header", () => {
  assert.deepEqual(unannouncedReplacements(migrations), []);
});

Deno.test("unannouncedReplacements() catches a silent replacement and accepts an announced one", () => {
  const first = {
    name: "1_a.sql",
    text: "-- A\ncreate function private.f() returns int as $$ select 1 $$;",
  };
  const silent = {
    name: "2_b.sql",
    text: "-- B\ncreate or replace function private.f() returns int",
  };
  const announced = {
    name: "2_b.sql",
    text:
      "-- B. Replaces private.f() from 1_a.\ncreate or replace function private.f() returns int",
  };
  assert.equal(unannouncedReplacements([first, silent]).length, 1);
  assert.deepEqual(unannouncedReplacements([first, announced]), []);
  const otherName = { ...silent, text: `-- B. Replaces private.f_two().\n${silent.text}` };
  assert.equal(unannouncedReplacements([first, otherName]).length, 1, "a longer name is another");
});
