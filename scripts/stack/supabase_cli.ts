/**
 * The real Supabase CLI, pinned. Run through npx: Deno's npm resolver cannot install the
 * CLI's platform-specific optional packages. --prefer-offline: once cached, npx does not ask the
 * registry again (a slow registry answer once stalled a start for minutes); a time limit turns
 * any other stall into an error that says so.
 */
export const SUPABASE_CLI_VERSION = "3.1.0";
const TIME_LIMIT_MS = 180_000;

export async function supabase(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const signal = AbortSignal.timeout(TIME_LIMIT_MS);
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("npx", {
      args: ["--yes", "--prefer-offline", `supabase@${SUPABASE_CLI_VERSION}`, ...args],
      cwd,
      env: { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1", ...env },
      stdout: "piped",
      stderr: "piped",
      signal,
    }).output();
  } catch (error) {
    if (signal.aborted) {
      throw new Error(
        `supabase ${args[0] ?? ""} ${args[1] ?? ""} took over ${TIME_LIMIT_MS / 1000} s`,
      );
    }
    throw error;
  }
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  // npm's own warnings about the machine's npmrc are noise here.
  const cleaned = decode(output.stderr).split("\n").filter((l) => !l.startsWith("npm warn"))
    .join("\n");
  if (signal.aborted) {
    throw new Error(
      `supabase ${args[0] ?? ""} ${args[1] ?? ""} took over ${TIME_LIMIT_MS / 1000} s`,
    );
  }
  return { code: output.code, stdout: decode(output.stdout), stderr: cleaned.trim() };
}
