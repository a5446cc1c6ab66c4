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
  return checkedNumber(
    env,
    fn,
    name,
    fallback,
    (value) => Number.isInteger(value) && value >= 0,
    "a non-negative integer",
  );
}

/** A number (fractions allowed) from range.min to range.max, both included. */
export function numberEnv(
  env: Env,
  fn: string,
  name: string,
  fallback: number,
  range: { min: number; max: number },
): number {
  return checkedNumber(
    env,
    fn,
    name,
    fallback,
    (value) => Number.isFinite(value) && value >= range.min && value <= range.max,
    `a number from ${range.min} to ${range.max}`,
  );
}

function checkedNumber(
  env: Env,
  fn: string,
  name: string,
  fallback: number,
  valid: (value: number) => boolean,
  what: string,
): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!valid(value)) throw new Error(`Cannot start ${fn}: ${name} must be ${what}, got '${raw}'`);
  return value;
}
