/**
 * The last step of the generators (`gen:types`, `gen:schema`): write the generated file, or with
 * --check only say whether the committed one still matches (exit 1 when it does not).
 */
import { relative } from "node:path";
import { projectRoot } from "./stack/profile.ts";

export async function writeOrCheck(file: string, generated: string, check: boolean): Promise<void> {
  const name = relative(projectRoot, file);
  if (!check) {
    await Deno.writeTextFile(file, generated);
    console.log(`wrote ${name}`);
    return;
  }
  const committed = await Deno.readTextFile(file).catch(() => "");
  if (committed !== generated) {
    console.error(`${name} does not match the migrations: run the generator again (see README)`);
    Deno.exit(1);
  }
  console.log(`${name} matches the migrations`);
}
