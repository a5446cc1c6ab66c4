/**
 * The SQS job message, in one place: `{"job_id", "customer_id"}`, meaning "work on job X".
 * The outbox writes it; the worker and the DLQ monitor read it. A job id must be a UUID, so a
 * body that is not ours (or a job id that could never name a row) reads as naming no job.
 */

export interface JobMessage {
  jobId: string;
  customerId: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What SQS takes as a MessageGroupId: 1-128 printable ASCII characters. A customer id the API
 * accepted always is one; a job inserted by hand with another id is sent without a group.
 */
const GROUP_ID = /^[\x21-\x7E]{1,128}$/;

/**
 * The MessageGroupId of a job's message: its customer. On a standard queue, SQS fair queues then
 * keep one customer's backlog from delaying the others (AWS; the local emulator accepts the field
 * and ignores it).
 */
export function messageGroupOf(customerId: string | undefined): { MessageGroupId?: string } {
  return customerId !== undefined && GROUP_ID.test(customerId)
    ? { MessageGroupId: customerId }
    : {};
}

/** The message body for a job: only its id and customer, nothing of the payload. */
export function encodeJobMessage(job: JobMessage): string {
  return JSON.stringify({ job_id: job.jobId, customer_id: job.customerId });
}

/**
 * The job id (lower-cased) and customer a body names; each is undefined where the body does not
 * say it, and both are missing for a body that is not JSON.
 */
export function parseJobMessage(body: string | undefined): Partial<JobMessage> {
  try {
    const parsed = JSON.parse(body ?? "");
    const jobId = typeof parsed?.job_id === "string" && UUID.test(parsed.job_id)
      ? parsed.job_id.toLowerCase()
      : undefined;
    const customerId = typeof parsed?.customer_id === "string" ? parsed.customer_id : undefined;
    return { jobId, customerId };
  } catch {
    return {};
  }
}
