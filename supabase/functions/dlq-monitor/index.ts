// Wiring only: config and clients are built once per instance; see handler.ts and deps.ts.
import { createDb } from "../_shared/db.ts";
import { createSqsClient } from "../_shared/sqs.ts";
import { loadConfig } from "./config.ts";
import { depsFromConfig } from "./deps.ts";
import { handle } from "./handler.ts";
import { slackWebhook } from "./slack.ts";

const config = loadConfig();
const deps = depsFromConfig(config, {
  db: createDb(config.dbUrl, { max: 3 }),
  sqs: createSqsClient(config.sqs),
  post: slackWebhook(config.slackWebhookUrl, config.slackTimeoutMs),
});

Deno.serve((req) => handle(req, deps));
