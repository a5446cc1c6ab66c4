/**
 * infra/sqs.yaml (CloudFormation): the queues as the system needs them, and IAM that allows
 * exactly the SQS calls the code makes (found by scanning the code for AWS SDK commands).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse } from "yaml";
import { projectRoot } from "../../scripts/stack/profile.ts";
import { MAX_RECEIVE_COUNT } from "../../scripts/stack/sqs_queues.ts";
import { laneQueueUrls, LANES } from "../../supabase/functions/_shared/lanes.ts";

// deno-lint-ignore no-explicit-any -- a parsed template is untyped data
const template: any = parse(Deno.readTextFileSync(join(projectRoot, "infra", "sqs.yaml")));
const resources = template.Resources;

/** The IAM action each AWS SDK command needs (batch calls need the single action). */
const ACTION: Record<string, string> = {
  SendMessageCommand: "sqs:SendMessage",
  SendMessageBatchCommand: "sqs:SendMessage",
  ReceiveMessageCommand: "sqs:ReceiveMessage",
  DeleteMessageCommand: "sqs:DeleteMessage",
  DeleteMessageBatchCommand: "sqs:DeleteMessage",
  ChangeMessageVisibilityCommand: "sqs:ChangeMessageVisibility",
  ChangeMessageVisibilityBatchCommand: "sqs:ChangeMessageVisibility",
  GetQueueAttributesCommand: "sqs:GetQueueAttributes",
};

function actionsUsedIn(dir: string): Set<string> {
  const found = new Set<string>();
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const path = join(d, e.name);
      if (e.isDirectory) walk(path);
      else if (e.name.endsWith(".ts")) {
        for (const [, command] of Deno.readTextFileSync(path).matchAll(/new (\w+Command)\(/g)) {
          const action = ACTION[command!];
          assert.ok(action, `${path} calls ${command}: add it to ACTION and to infra/sqs.yaml`);
          found.add(action);
        }
      }
    }
  };
  walk(join(projectRoot, dir));
  return found;
}

function statements(policy: string): { Action: string[]; Resource: unknown[] }[] {
  return resources[policy].Properties.PolicyDocument.Statement;
}

const arnOf = (queue: string) => ({ "Fn::GetAtt": [queue, "Arn"] });

const LANE_QUEUES = ["JobsHighQueue", "JobsQueue", "JobsLowQueue"];

Deno.test("each lane's queue dead-letters into jobs-dlq after 3 receives; the DLQ keeps messages longer", () => {
  const dlq = resources.DeadLetterQueue.Properties;
  assert.equal(MAX_RECEIVE_COUNT, 3);
  for (const name of LANE_QUEUES) {
    const queue = resources[name].Properties;
    assert.equal(resources[name].Type, "AWS::SQS::Queue");
    assert.deepEqual(queue.RedrivePolicy, {
      deadLetterTargetArn: arnOf("DeadLetterQueue"),
      maxReceiveCount: MAX_RECEIVE_COUNT,
    });
    assert.ok(dlq.MessageRetentionPeriod > queue.MessageRetentionPeriod);
  }
  assert.equal(dlq.RedriveAllowPolicy.redrivePermission, "byQueue");
  assert.equal(dlq.RedriveAllowPolicy.sourceQueueArns.length, LANE_QUEUES.length);
});

Deno.test("the lanes' queues are named as the code finds them: the default lane's name plus -high / -low", () => {
  const names = LANE_QUEUES.map((name) => resources[name].Properties.QueueName["Fn::Sub"]);
  const urls = laneQueueUrls("${QueuePrefix}jobs");
  assert.deepEqual(names, LANES.map((lane) => urls[lane]));
});

Deno.test("the functions' policy allows exactly the SQS calls the functions make", () => {
  const allowed = new Set(statements("FunctionsPolicy").flatMap((s) => s.Action));
  assert.deepEqual([...allowed].sort(), [...actionsUsedIn("supabase/functions")].sort());
});

Deno.test("the workers' policy allows exactly the SQS calls the worker makes, on the lanes only", () => {
  const worker = statements("WorkersPolicy");
  assert.deepEqual(
    [...new Set(worker.flatMap((s) => s.Action))].sort(),
    [...actionsUsedIn("worker")].sort(),
  );
  for (const s of worker) assert.deepEqual(s.Resource, LANE_QUEUES.map(arnOf));
});

Deno.test("no wildcard: every statement names actions and our queues", () => {
  for (const policy of ["FunctionsPolicy", "WorkersPolicy"]) {
    for (const s of statements(policy)) {
      for (const action of s.Action) assert.doesNotMatch(action, /\*/, `${policy}: ${action}`);
      for (const resource of s.Resource) {
        assert.ok(
          [...LANE_QUEUES, "DeadLetterQueue"].map(arnOf).some((a) =>
            JSON.stringify(a) === JSON.stringify(resource)
          ),
          `${policy}: ${JSON.stringify(resource)}`,
        );
      }
    }
  }
  // Only the DLQ may be received from or deleted on by the functions (the redrive).
  for (const s of statements("FunctionsPolicy")) {
    if (s.Action.some((a) => a === "sqs:ReceiveMessage" || a === "sqs:DeleteMessage")) {
      assert.deepEqual(s.Resource, [arnOf("DeadLetterQueue")]);
    }
  }
});
