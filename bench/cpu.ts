/**
 * CPU time per process group of the local stack, read from /proc (Linux): what one request costs
 * each part of the machine, for benchmarks where everything shares two cores. Groups are told
 * apart by command line; a process that ends between two snapshots is not counted.
 */
import { procStat } from "../scripts/proc.ts";

const GROUPS: [string, RegExp][] = [
  ["function instance", /function_worker\.ts/],
  ["functions gateway", /functions_server\.ts/],
  ["SQS emulator", /sqs_server\.ts/],
  ["postgres", /^postgres/],
];

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const TICKS = 100;

export type CpuSnapshot = Map<string, number>;

/** CPU seconds so far per group; this process counts as "load generator". */
export function cpuSnapshot(): CpuSnapshot {
  const seconds: CpuSnapshot = new Map();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let command: string;
    try {
      command = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
    } catch {
      continue; // gone meanwhile
    }
    const fields = procStat(Number(entry.name));
    if (!fields) continue;
    const group = Number(entry.name) === Deno.pid
      ? "load generator"
      : GROUPS.find(([, pattern]) => pattern.test(command))?.[0];
    if (!group) continue;
    const used = (Number(fields[11]) + Number(fields[12])) / TICKS;
    seconds.set(group, (seconds.get(group) ?? 0) + used);
  }
  return seconds;
}

/** "group 0.34, ..." in ms of CPU per request between two snapshots. */
export function cpuPerRequest(before: CpuSnapshot, after: CpuSnapshot, requests: number): string {
  const parts = [...after].map(([group, s]) =>
    [group, ((s - (before.get(group) ?? 0)) * 1000) / requests] as const
  )
    .filter(([, ms]) => ms >= 0.005);
  const total = parts.reduce((sum, [, ms]) => sum + ms, 0);
  return `${total.toFixed(2)} ms: ${parts.map(([g, ms]) => `${g} ${ms.toFixed(2)}`).join(", ")}`;
}
