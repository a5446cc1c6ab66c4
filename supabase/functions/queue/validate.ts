/**
 * Input rules of the queue API. Each check answers with the field at fault and a message a
 * client can act on; nothing reaches the database before every check has passed.
 */

export interface EnqueueInput {
  package_size: number;
  /**
   * A number from 0 to 10, or a tier name the database resolves (private.priority_tiers); absent:
   * the default tier.
   */
  priority_level?: number | string;
  payload: Record<string, unknown>;
}

/** One job of a bulk request; it may carry its own idempotency key. */
export interface BulkItem extends EnqueueInput {
  idempotency_key?: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; field?: string; message: string };

export const CUSTOMER_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7E]{1,255}$/;
const FIELDS = new Set(["package_size", "priority_level", "payload"]);
const BULK_ITEM_FIELDS = new Set([...FIELDS, "idempotency_key"]);

export const LIMITS = {
  packageSize: { min: 1, max: 10_000 },
  priority: { min: 0, max: 10 },
  /** Characters of a tier name at most (the database knows which names there are). */
  tierName: 32,
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

/**
 * priority_level: absent (the default tier), a number in range, or a string that may name a tier.
 * Whether it does is the database's to say, in the enqueue call itself.
 */
function checkPriority(value: unknown): Checked<number | string | undefined> {
  if (value === undefined) return { ok: true, value: undefined };
  if (typeof value === "string") {
    return value.length >= 1 && value.length <= LIMITS.tierName ? { ok: true, value } : {
      ok: false,
      field: "priority_level",
      message: `A tier name in priority_level is 1 to ${LIMITS.tierName} characters.`,
    };
  }
  if (typeof value !== "number") {
    const { min, max } = LIMITS.priority;
    return {
      ok: false,
      field: "priority_level",
      message: `priority_level must be a tier name or an integer from ${min} to ${max}.`,
    };
  }
  return integerIn(value, "priority_level", LIMITS.priority);
}

/** The parsed JSON body of a single-job POST /queue/<customerId>. */
export function checkEnqueueBody(body: unknown, allowed = FIELDS): Checked<EnqueueInput> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { ok: false, message: "The body must be a JSON object." };
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).find((key) => !allowed.has(key));
  if (unknown !== undefined) {
    return {
      ok: false,
      field: unknown,
      message: `Unknown field '${unknown.slice(0, 64)}'. Allowed: ${[...allowed].join(", ")}.`,
    };
  }
  if (!("package_size" in record)) {
    return { ok: false, field: "package_size", message: "package_size is required." };
  }
  const size = integerIn(record.package_size, "package_size", LIMITS.packageSize);
  if (!size.ok) return size;
  const priority = checkPriority(record.priority_level);
  if (!priority.ok) return priority;
  const payload = record.payload ?? {};
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
    return { ok: false, field: "payload", message: "payload must be a JSON object." };
  }
  return {
    ok: true,
    value: {
      package_size: size.value,
      ...(priority.value === undefined ? {} : { priority_level: priority.value }),
      payload: payload as Record<string, unknown>,
    },
  };
}

const utf8 = new TextEncoder();

export interface BulkLimits {
  /** Jobs one request may carry. */
  maxJobs: number;
  /** Bytes of one job's JSON at most: a single POST's body limit. */
  maxJobBytes: number;
}

/** Why a bulk item was refused: the index names it, and the status says how. */
export type BulkChecked =
  | { ok: true; value: BulkItem[] }
  | { ok: false; status: 400 | 413; index?: number; field?: string; message: string };

/**
 * {"jobs": [...]}: 1 to maxJobs items, each a single POST's body (plus its own
 * idempotency_key), each no larger than a single POST may be, no key twice. The first item at
 * fault is named by its index (from 0), in the message and in the field.
 */
export function checkBulkBody(body: Record<string, unknown>, limits: BulkLimits): BulkChecked {
  const extra = Object.keys(body).find((key) => key !== "jobs");
  if (extra !== undefined) {
    return {
      ok: false,
      status: 400,
      field: extra,
      message: `Unknown field '${extra.slice(0, 64)}' beside jobs. A bulk body is {"jobs": [...]}.`,
    };
  }
  const jobs = body.jobs;
  if (!Array.isArray(jobs) || jobs.length === 0 || jobs.length > limits.maxJobs) {
    return {
      ok: false,
      status: 400,
      field: "jobs",
      message: `jobs must be an array of 1 to ${limits.maxJobs} jobs.`,
    };
  }
  const items: BulkItem[] = [];
  const keys = new Map<string, number>();
  for (const [index, job] of jobs.entries()) {
    const at = `jobs[${index}]`;
    if (utf8.encode(JSON.stringify(job)).length > limits.maxJobBytes) {
      return {
        ok: false,
        status: 413,
        index,
        field: at,
        message: `${at} is over ${limits.maxJobBytes} bytes, the limit of one job.`,
      };
    }
    const checked = checkEnqueueBody(job, BULK_ITEM_FIELDS);
    if (!checked.ok) {
      return {
        ok: false,
        status: 400,
        index,
        field: checked.field ? `${at}.${checked.field}` : at,
        message: `${at}: ${checked.message}`,
      };
    }
    const item: BulkItem = checked.value;
    const key = (job as Record<string, unknown>).idempotency_key;
    if (key !== undefined) {
      const keyChecked = checkIdempotencyKey(typeof key === "string" ? key : "");
      if (!keyChecked.ok || keyChecked.value === null) {
        return {
          ok: false,
          status: 400,
          index,
          field: `${at}.idempotency_key`,
          message: `${at}: idempotency_key must be 1-255 visible ASCII characters.`,
        };
      }
      const first = keys.get(keyChecked.value);
      if (first !== undefined) {
        return {
          ok: false,
          status: 400,
          index,
          field: `${at}.idempotency_key`,
          message: `${at}: idempotency_key is the same as jobs[${first}]'s.`,
        };
      }
      keys.set(keyChecked.value, index);
      item.idempotency_key = keyChecked.value;
    }
    items.push(item);
  }
  return { ok: true, value: items };
}
