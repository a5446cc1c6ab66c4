/**
 * Small, typed readers for a function's env vars. Each function parses its config once, at
 * start-up, and a missing secret stops it with a message that names the function and the var.
 */
export type Env = Record<string, string | undefined>;

export function requireEnv(env: Env, fn: string, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new Error(`Cannot start ${fn}: ${name} is not set`);
  return value;
}

export function intEnv(env: Env, fn: string, name: string, fallback: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`Cannot start ${fn}: ${name} must be a non-negative integer, got '${raw}'`);
  }
  return value;
}
