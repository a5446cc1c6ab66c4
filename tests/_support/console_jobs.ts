/** Jobs for the console's tests: seeded for a fresh customer, and removed after the test. */
import { connect } from "./stack.ts";
import { uniqueCustomer } from "./pipeline.ts";

/**
 * Removes a customer's jobs (their outbox rows go with them), so no message of theirs is sent
 * later into another test's queues.
 */
export async function removeJobs(dbUrl: string, customer: string): Promise<void> {
  const sql = connect(dbUrl);
  try {
    await sql`delete from public.jobs where customer_id = ${customer}`;
  } finally {
    await sql.end();
  }
}

/** Runs a test's body with a fresh customer, and removes that customer's jobs afterwards. */
export async function withCustomer(
  dbUrl: string,
  prefix: string,
  fn: (customer: string) => Promise<void>,
): Promise<void> {
  const customer = uniqueCustomer(prefix);
  try {
    await fn(customer);
  } finally {
    await removeJobs(dbUrl, customer);
  }
}

/** Jobs of `customer` through enqueue_job: `failed` of them failed for good, the rest pending. */
export async function seedJobs(
  dbUrl: string,
  customer: string,
  pending: number,
  failed = 0,
): Promise<string[]> {
  const sql = connect(dbUrl);
  try {
    const ids = (await sql<{ id: string }[]>`
      select (public.enqueue_job(${customer}, 1)).job_id::text as id
        from generate_series(1, ${pending + failed})`).map((r) => r.id);
    if (failed > 0) {
      await sql`update public.jobs set status = 'failed', completed_at = now(),
                       error_message = 'Directory rejected the submission'
                 where id = any(${ids.slice(0, failed)}::uuid[])`;
    }
    return ids;
  } finally {
    await sql.end();
  }
}
