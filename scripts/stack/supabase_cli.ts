/**
 * The real Supabase CLI, pinned. Run through npx: Deno's npm resolver cannot install the
 * CLI's platform-specific optional packages.
 */
export const SUPABASE_CLI_VERSION = "3.1.0";

export async function supabase(
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command("npx", {
    args: ["--yes", `supabase@${SUPABASE_CLI_VERSION}`, ...args],
    cwd,
    env: { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  // npm's own warnings about the machine's npmrc are noise here.
  const cleaned = decode(stderr).split("\n").filter((l) => !l.startsWith("npm warn")).join("\n");
  return { code, stdout: decode(stdout), stderr: cleaned.trim() };
}
