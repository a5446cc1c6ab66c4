/**
 * The Slack message for a DLQ alert: Block Kit blocks for people, a plain `text` fallback for
 * notifications and clients without blocks. Built once, when the alert is raised, and stored
 * with it, so a retried delivery sends exactly what was decided.
 */

export type AlertKind = "dlq_triggered" | "dlq_grew" | "dlq_reminder" | "dlq_resolved";

import type { DeadLetterAction, DeadLetterSummary } from "./store.ts";

export interface DeadLetterExample {
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
  /** Every dead letter recorded, in brief: counts, top customers, a few examples. */
  summary: DeadLetterSummary;
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

const count = (n: number) => n.toLocaleString("en-US");

function headline(f: AlertFacts): string {
  const n = `${count(f.depth)} message${f.depth === 1 ? "" : "s"}`;
  switch (f.kind) {
    case "dlq_triggered":
      return `Dead letters: ${n} in ${f.queueName}`;
    case "dlq_grew":
      return `Dead letters growing: ${f.queueName} went from ${count(f.previousDepth)} to ${
        count(f.depth)
      }`;
    case "dlq_reminder":
      return `Dead letters still waiting: ${n} in ${f.queueName}`;
    case "dlq_resolved":
      return `Resolved: ${f.queueName} is empty again`;
  }
}

function jobLine(job: DeadLetterExample): string {
  const id = job.jobId ? `\`${job.jobId}\`` : "_not a job message_";
  const customer = job.customerId
    ? ` · customer \`${escapeMrkdwn(clip(job.customerId, 64))}\``
    : "";
  const error = job.error ? ` · ${escapeMrkdwn(clip(job.error, 160))}` : "";
  return `• ${id}${customer} · received ${job.receiveCount}×${error}`;
}

/** What each action means to someone reading the alert, in the order they care. */
const ACTIONS: [DeadLetterAction, string][] = [
  ["settled", "jobs marked failed (dead-lettered)"],
  ["running", "left alone: a live worker holds the job"],
  ["resent_since", "left alone: the job was sent again since"],
  ["finished", "left alone: the job had already finished"],
  ["busy", "job busy, decided on the next check"],
  ["unknown_job", "name a job the database does not know"],
  ["not_a_job", "are not job messages"],
];

/** Fewer recorded than the DLQ holds: a walk has not reached them yet (cut short, or skipped). */
const partly = (f: AlertFacts) => f.summary.recorded < f.depth;

function recordedLines(f: AlertFacts): string {
  const { summary } = f;
  const lines = ACTIONS.flatMap(([action, meaning]) => {
    const n = summary.byAction[action] ?? 0;
    return n > 0 ? [`• ${count(n)} ${meaning}`] : [];
  });
  const heading = partly(f)
    ? `Recorded so far: ${count(summary.recorded)} of ${
      count(f.depth)
    } dead letters (the rest on the next checks)`
    : `Recorded: ${count(summary.recorded)} dead letter${summary.recorded === 1 ? "" : "s"}`;
  return `*${heading}*\n${lines.join("\n") || "_none yet_"}`;
}

function customersLine(summary: DeadLetterSummary): string {
  return summary.customers
    .map((c) => `\`${escapeMrkdwn(clip(c.customerId, 64))}\` ${count(c.letters)}`)
    .join(" · ");
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
  const { summary } = f;
  const settled = summary.byAction.settled ?? 0;
  const customers = customersLine(summary);
  // A few dead letters are named; a flood is told in counts.
  const named = summary.recorded <= summary.examples.length
    ? summary.examples.flatMap((e) => (e.jobId ? [e.jobId] : []))
    : [];
  const text = `:rotating_light: ${title}. ${count(settled)} job${
    settled === 1 ? "" : "s"
  } marked failed${partly(f) ? " so far" : ""}${
    summary.customers.length
      ? `; most from ${
        summary.customers.map((c) => `${c.customerId} (${count(c.letters)})`).join(", ")
      }`
      : ""
  }${named.length ? `. Jobs: ${named.join(", ")}` : ""}`;
  const examples = summary.examples.map((e) =>
    jobLine({
      jobId: e.jobId ?? undefined,
      customerId: e.customerId ?? undefined,
      receiveCount: e.receiveCount,
      error: e.error ?? undefined,
    })
  );
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
      { type: "section", text: { type: "mrkdwn", text: truncate(recordedLines(f), 2900) } },
      ...(customers
        ? [{
          type: "section",
          text: { type: "mrkdwn", text: truncate(`*Most dead letters*\n${customers}`, 2900) },
        }]
        : []),
      {
        type: "section",
        text: {
          type: "mrkdwn",
          // A section's text holds at most 3000 characters.
          text: truncate(`*For example*\n${examples.join("\n") || "_none_"}`, 2900),
        },
      },
      {
        type: "context",
        elements: [{
          type: "mrkdwn",
          text:
            "Every dead letter is recorded in private.dead_letters. Fix the cause, then put the jobs back with `deno task dlq:redrive`.",
        }],
      },
    ],
  };
}
