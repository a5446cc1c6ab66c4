/**
 * Input rules of the queue API. Each check answers with the field at fault and a message a
 * client can act on; nothing reaches the database before every check has passed.
 */

export interface EnqueueInput {
  package_size: number;
  priority_level: number;
  payload: Record<string, unknown>;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; field?: string; message: string };

export const CUSTOMER_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;
const FIELDS = new Set(["package_size", "priority_level", "payload"]);

export const LIMITS = {
  packageSize: { min: 1, max: 10_000 },
  priority: { min: 0, max: 10 },
};

export function checkCustomerId(raw: string): Checked<string> {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    return { ok: false, message: "The customer id is not valid URL encoding." };
  }
  return CUSTOMER_ID.test(id) ? { ok: true, value: id } : {
    ok: false,
    message: "A customer id is 1-128 characters: letters, digits, '.', '_', ':' or '-'.",
  };
}

export function checkIdempotencyKey(raw: string | null): Checked<string | null> {
  if (raw === null) return { ok: true, value: null };
  return IDEMPOTENCY_KEY.test(raw) ? { ok: true, value: raw } : {
    ok: false,
    field: "Idempotency-Key",
    message: "Idempotency-Key must be 1-255 visible ASCII characters.",
  };
}

function integerIn(
  value: unknown,
  field: string,
  range: { min: number; max: number },
): Checked<number> {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    return { ok: false, field, message: `${field} must be an integer.` };
  }
  if (value < range.min || value > range.max) {
    return { ok: false, field, message: `${field} must be between ${range.min} and ${range.max}.` };
  }
  return { ok: true, value };
}

/** The parsed JSON body of POST /queue/<customerId>. */
export function checkEnqueueBody(body: unknown): Checked<EnqueueInput> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, message: "The body must be a JSON object." };
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).find((key) => !FIELDS.has(key));
  if (unknown !== undefined) {
    return {
      ok: false,
      field: unknown,
      message: `Unknown field '${
        unknown.slice(0, 64)
      }'. Allowed: package_size, priority_level, payload.`,
    };
  }
  if (!("package_size" in record)) {
    return { ok: false, field: "package_size", message: "package_size is required." };
  }
  if (!("priority_level" in record)) {
    return { ok: false, field: "priority_level", message: "priority_level is required." };
  }
  const size = integerIn(record.package_size, "package_size", LIMITS.packageSize);
  if (!size.ok) return size;
  const priority = integerIn(record.priority_level, "priority_level", LIMITS.priority);
  if (!priority.ok) return priority;
  const payload = record.payload ?? {};
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return { ok: false, field: "payload", message: "payload must be a JSON object." };
  }
  return {
    ok: true,
    value: {
      package_size: size.value,
      priority_level: priority.value,
      payload: payload as Record<string, unknown>,
    },
  };
}
