/** In-memory stand-ins for the functions' clients, for unit tests: no database, no SQS. */
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { Db } from "../../supabase/functions/_shared/db.ts";

export interface Statement {
  /** The SQL with its white space folded. */
  text: string;
  values: unknown[];
}

/**
 * A node-postgres pool (and the connection a transaction takes from it) that answers each
 * statement with the rows `answer` gives (none when it gives nothing) and records every one.
 */
export function fakeDb(
  answer: (text: string, values: unknown[]) => unknown[] | undefined = () => [],
): { db: Db; statements: Statement[] } {
  const statements: Statement[] = [];
  const query = (text: string, values: unknown[] = []) => {
    statements.push({ text: text.replace(/\s+/g, " ").trim(), values });
    try {
      return Promise.resolve({ rows: answer(text, values) ?? [] });
    } catch (error) {
      return Promise.reject(error);
    }
  };
  const connection = { query, on() {}, off() {}, release() {} };
  const db = { query, connect: () => Promise.resolve(connection) } as unknown as Db;
  return { db, statements };
}

/** An SQS client that answers each command (by its class name, e.g. "ReceiveMessageCommand"). */
export function fakeSqs(
  answer: (command: string, input: Record<string, unknown>) => unknown = () => ({}),
): { sqs: SQSClient; sent: { command: string; input: Record<string, unknown> }[] } {
  const sent: { command: string; input: Record<string, unknown> }[] = [];
  const sqs = {
    send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      sent.push({ command: command.constructor.name, input: command.input });
      return Promise.resolve(answer(command.constructor.name, command.input));
    },
  } as unknown as SQSClient;
  return { sqs, sent };
}
