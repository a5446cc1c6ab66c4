/**
 * Who the rate limiter refused, for operators: counted in the instance per minute, policy and
 * client, and written in one call every few seconds (never a write per refused request, which
 * would add load exactly when a client floods). The flush runs as work after the answer
 * (EdgeRuntime.waitUntil), so an instance that stops first writes what it counted.
 *
 * No raw address or key is kept: the client is stored as a SHA-256 hash and its kind (ip, user,
 * key, customer, service). The hash is plain (no secret), so it is pseudonymous, not anonymous: an
 * IPv4 address can be found from its hash by trying them all; an API key's hash is the one private.api_keys holds, so the console can show the
 * key's name, and a customer's calls carry the customer id.
 */
import { sha256Hex } from "../auth.ts";

export interface Refusal {
  policy: string;
  /**
   * The client as the limiter counts it: ip:<addr>, user:<sub>, key:<sha256>, customer:<id>
   * (the queue's jobs policy), service.
   */
  client: string;
  customerId?: string;
}

export interface RefusalRow {
  minute: string;
  fn: string;
  policy: string;
  client_hash: string;
  client_kind: "ip" | "user" | "key" | "customer" | "service";
  customer_id: string | null;
  refused: number;
}

export interface RefusalLog {
  refused(refusal: Refusal): void;
  /** Writes what was counted (also called by the scheduled flush). */
  flush(): Promise<void>;
}

export interface RefusalLogDeps {
  fn: string;
  write(rows: RefusalRow[]): Promise<void>;
  /** Keeps the instance alive for the pending flush (EdgeRuntime.waitUntil). */
  keepAlive(work: Promise<unknown>): void;
  flushMs: number;
  /** Distinct (minute, policy, client) counted between flushes at most; more are dropped. */
  maxClients: number;
  now(): number;
  log(line: string): void;
}

/** Flushes that may fail in a row before their counts are given up. */
const MAX_FAILED_WRITES = 3;

function kindOf(client: string): { kind: RefusalRow["client_kind"]; hash: string } {
  if (client === "service") return { kind: "service", hash: sha256Hex(client) };
  const at = client.indexOf(":");
  const kind = client.slice(0, at);
  // An API key's client is already its SHA-256, the hash private.api_keys keeps.
  if (kind === "key") return { kind, hash: client.slice(at + 1) };
  return {
    kind: kind === "ip" || kind === "customer" ? kind : "user",
    hash: sha256Hex(client),
  };
}

export function refusalLog(deps: RefusalLogDeps): RefusalLog {
  let counts = new Map<string, RefusalRow>();
  let pending: Promise<void> | undefined;
  let dropped = 0;
  let failedWrites = 0;

  async function flush(): Promise<void> {
    const rows = [...counts.values()];
    counts = new Map();
    if (dropped > 0) {
      deps.log(`${deps.fn}: rate limiter: ${dropped} refusals over the per-flush cap not recorded`);
      dropped = 0;
    }
    if (rows.length === 0) return;
    try {
      await deps.write(rows);
      failedWrites = 0;
    } catch (error) {
      failedWrites++;
      const reason = error instanceof Error ? error.message : error;
      if (failedWrites >= MAX_FAILED_WRITES) {
        // Not a blip: give these up rather than carry them (and keep the instance up) for ever.
        deps.log(`${deps.fn}: gave up recording ${rows.length} rate-limit refusal rows: ${reason}`);
        failedWrites = 0;
        return;
      }
      // Kept for the next flush: a database blip must not lose the counts.
      for (const row of rows) add(row, row.refused);
      deps.log(`${deps.fn}: could not record rate-limit refusals: ${reason}`);
      schedule();
    }
  }

  function schedule(): void {
    if (pending) return;
    pending = new Promise<void>((resolve) => setTimeout(resolve, deps.flushMs))
      .then(() => {
        pending = undefined;
        return flush();
      });
    deps.keepAlive(pending);
  }

  function add(row: RefusalRow, n: number): void {
    const id = `${row.minute}\u0000${row.policy}\u0000${row.client_hash}`;
    const known = counts.get(id);
    if (known) known.refused += n;
    else if (counts.size < deps.maxClients) counts.set(id, { ...row, refused: n });
    else dropped += n;
  }

  return {
    refused({ policy, client, customerId }) {
      const minute = new Date(Math.floor(deps.now() / 60_000) * 60_000).toISOString();
      const { kind, hash } = kindOf(client);
      add({
        minute,
        fn: deps.fn,
        policy,
        client_hash: hash,
        client_kind: kind,
        // The column holds 1-128 characters; a JWT's app_metadata may carry anything.
        customer_id: customerId ? customerId.slice(0, 128) : null,
        refused: 0,
      }, 1);
      schedule();
    },
    flush,
  };
}
