/** worker/config.ts: the reference worker's settings and the messages a bad one stops it with. */
import assert from "node:assert/strict";
import { loadConfig } from "../../worker/config.ts";

const ENV = {
  WORKER_ID: "w-1",
  WORKER_DB_URL: "postgres://worker@db/postgres",
  SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs",
};

Deno.test("loadConfig() reads the worker's settings with their defaults", () => {
  const config = loadConfig(ENV);
  assert.equal(config.workerId, "w-1");
  assert.equal(config.sqs.region, "eu-west-1");
  assert.equal(config.heartbeatMs, 15_000);
  assert.equal(config.visibilitySeconds, 60);
  assert.equal(config.waitSeconds, 20);
  assert.equal(config.shutdownGraceMs, 10_000);
  assert.equal(config.concurrency, 10);
  assert.equal(config.jobTimeoutMs, 30 * 60_000);
  assert.deepEqual(config.handler, { durationMs: 2_000, failureRate: 0 });
  assert.equal(loadConfig({ ...ENV, HEARTBEAT_SECONDS: "0.5" }).heartbeatMs, 500);
});

Deno.test("loadConfig() stops the worker on a setting out of its range, naming it", () => {
  assert.throws(
    () => loadConfig({ ...ENV, RECEIVE_WAIT_SECONDS: "21" }),
    /^Error: Cannot start worker: RECEIVE_WAIT_SECONDS must be a number from 0 to 20, got '21'$/,
  );
  assert.throws(
    () => loadConfig({ ...ENV, HANDLER_FAILURE_RATE: "half" }),
    /HANDLER_FAILURE_RATE must be a number from 0 to 1, got 'half'/,
  );
  assert.throws(
    () => loadConfig({ ...ENV, WORKER_CONCURRENCY: "0" }),
    /WORKER_CONCURRENCY must be a number from 1 to 1000, got '0'/,
  );
  assert.throws(
    () => loadConfig({ ...ENV, JOB_TIMEOUT_SECONDS: "soon" }),
    /JOB_TIMEOUT_SECONDS must be a number from 1 to 86400, got 'soon'/,
  );
  assert.throws(
    () => loadConfig({ ...ENV, WORKER_DB_URL: "" }),
    /Cannot start worker: WORKER_DB_URL is not set/,
  );
});
