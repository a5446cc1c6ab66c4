/**
 * The Slack message for a DLQ alert: Block Kit blocks for people, a plain `text` fallback for
 * notifications and clients without blocks. Built once, when the alert is raised, and stored
 * with it, so a retried delivery sends exactly what was decided.
 */

export type AlertKind = "dlq_triggered" | "dlq_grew" | "dlq_reminder" | "dlq_resolved";

export interface SampledJob {
  jobId?: string;
  customerId?: string;
  receiveCount: number;
  error?: string;
}

export interface AlertFacts {
  kind: AlertKind;
  queueName: string;
  queueUrl: string;
  /** AWS region of the queue, for the console link. */
  region: string;
  depth: number;
  inFlight: number;
  previousDepth: number;
  incidentSince?: string;
  sample: SampledJob[];
}

export interface SlackMessage {
  text: string;
  blocks: unknown[];
}

/** The AWS console page of an SQS queue. */
export function consoleUrl(queueUrl: string, region: string): string {
  return `https://${region}.console.aws.amazon.com/sqs/v3/home?region=${region}#/queues/${
    encodeURIComponent(queueUrl)
  }`;
}

/** Slack mrkdwn treats &, < and > as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** One line, at most max characters. */
function clip(text: string, max: number): string {
  return truncate(text.replace(/\s+/g, " ").trim(), max);
}

function headline(f: AlertFacts): string {
  const n = `${f.depth} message${f.depth === 1 ? "" : "s"}`;
  switch (f.kind) {
    case "dlq_triggered":
      return `Dead letters: ${n} in ${f.queueName}`;
    case "dlq_grew":
      return `Dead letters growing: ${f.queueName} went from ${f.previousDepth} to ${f.depth}`;
    case "dlq_reminder":
      return `Dead letters still waiting: ${n} in ${f.queueName}`;
    case "dlq_resolved":
      return `Resolved: ${f.queueName} is empty again`;
  }
}

function jobLine(job: SampledJob): string {
  const id = job.jobId ? `\`${job.jobId}\`` : "_not a job message_";
  const customer = job.customerId
    ? ` · customer \`${escapeMrkdwn(clip(job.customerId, 64))}\``
    : "";
  const error = job.error ? ` · ${escapeMrkdwn(clip(job.error, 160))}` : "";
  return `• ${id}${customer} · received ${job.receiveCount}×${error}`;
}

export function alertMessage(f: AlertFacts): SlackMessage {
  const title = headline(f);
  const link = `<${consoleUrl(f.queueUrl, f.region)}|${escapeMrkdwn(f.queueName)}>`;
  if (f.kind === "dlq_resolved") {
    return {
      text: `:white_check_mark: ${title}`,
      blocks: [
        { type: "header", text: { type: "plain_text", text: clip(title, 150) } },
        {
          type: "section",
          text: {
            type: "mrkdwn",
            text: `${link} has been empty for two checks in a row${
              f.incidentSince ? ` (dead letters since ${f.incidentSince})` : ""
            }.`,
          },
        },
      ],
    };
  }
  const ids = f.sample.map((j) => j.jobId).filter(Boolean);
  const text = `:rotating_light: ${title}${ids.length ? `. Jobs: ${ids.join(", ")}` : ""}`;
  const lines = f.sample.map(jobLine);
  const more = f.depth > f.sample.length ? `\n…and ${f.depth - f.sample.length} more` : "";
  return {
    text: truncate(text, 3000),
    blocks: [
      { type: "header", text: { type: "plain_text", text: clip(title, 150) } },
      {
        type: "section",
        fields: [
          { type: "mrkdwn", text: `*Queue*\n${link}` },
          {
            type: "mrkdwn",
            text: `*Messages*\n${f.depth} (${f.inFlight} in flight)${
              f.kind === "dlq_triggered" ? "" : `, was ${f.previousDepth}`
            }`,
          },
        ],
      },
      {
        type: "section",
        text: {
          type: "mrkdwn",
          // A section's text holds at most 3000 characters.
          text: truncate(`*Sampled jobs*\n${lines.join("\n") || "_none sampled_"}${more}`, 2900),
        },
      },
      {
        type: "context",
        elements: [{
          type: "mrkdwn",
          text:
            "Jobs seen here are marked failed (dead-lettered). Fix the cause, then put them back with `deno task dlq:redrive`.",
        }],
      },
    ],
  };
}
