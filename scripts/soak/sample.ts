/**
 * What the soak samples every 30 s: the resident memory of every process of the stack and its
 * workers (from /proc) with what V8 holds in each Deno process (heap.ts), and from Postgres its
 * connections, table sizes and leases.
 */
import type postgres from "postgres";
import { projectRoot } from "../stack/profile.ts";
import { procStat } from "../proc.ts";
import { procStart, type V8Memory } from "./heap.ts";

export interface ProcessSample {
  pid: number;
  /** The service it belongs to (its process tree), e.g. "postgres", "functions", "worker-1". */
  service: string;
  /** What it is within the service: its command, shortened. */
  label: string;
  /** The service's own process (the one the stack started), not one of its children. */
  root: boolean;
  /**
   * Private resident memory, in KiB (RssAnon: heaps and stacks, where a leak lives). Not the
   * mapped binary and libraries, paged in as code first runs, nor shared memory: Postgres' buffer
   * cache fills by design as pages are read.
   */
  kib: number;
  /** VmRSS, in KiB. */
  rssKib: number;
  /** When it started, in clock ticks since boot: pid and start name one process (pids recur). */
  started: number;
  /** Runs the same Deno as the soak (so it has the heap hook, heap.ts). */
  deno: boolean;
  /** A Deno process's V8 heap right after a full collection, if it reported in time. */
  v8?: V8Memory;
}

export interface DatabaseSample {
  /** Client connections by application_name (the functions' pools set none). */
  connections: Record<string, number>;
  /** Total size (with indexes and TOAST) of each table in public and private, in bytes. */
  tableBytes: Record<string, number>;
  /** Jobs in progress, each holding a lease. */
  leases: number;
  pending: number;
  /** Worker heartbeat rows that name a job. */
  workersHoldingJobs: number;
}

export interface Sample {
  /** Seconds since the soak started. */
  at: number;
  processes: ProcessSample[];
  database: DatabaseSample;
}

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined; // the process ended meanwhile
  }
}

/** Parent pid from /proc/<pid>/stat (the field after the parenthesised command). */
function parentOf(pid: number): number | undefined {
  const parent = procStat(pid)?.[1];
  return parent === undefined ? undefined : Number(parent);
}

function statusKib(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) : 0;
}

function runsDeno(pid: number): boolean {
  try {
    return Deno.readLinkSync(`/proc/${pid}/exe`) === Deno.execPath();
  } catch {
    return false; // ended meanwhile
  }
}

/**
 * A short label from a command line: the last script it runs, relative to the project (a function
 * instance runs function_worker.ts with its function's index.ts), or Postgres' own process title.
 */
export function labelOf(cmdline: string, root: string = projectRoot): string {
  const args = cmdline.split("\0").filter(Boolean);
  if (args[0]?.startsWith("postgres:")) return args[0].replace(/\s+/g, " ").slice(0, 60);
  const script = args.findLast((a) => /\.(ts|js|mjs)$/.test(a));
  if (script) return script.startsWith(`${root}/`) ? script.slice(root.length + 1) : script;
  return (args[0] ?? "?").split("/").pop()!;
}

/**
 * Every process under each root (a service's pid and all its descendants), with its memory;
 * `v8Of` gives what a process reported of its heap. Processes that end while being read are left
 * out.
 */
export function sampleProcesses(
  roots: { service: string; pid: number }[],
  v8Of: (pid: number) => V8Memory | undefined = () => undefined,
): ProcessSample[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    const parent = parentOf(pid);
    if (parent === undefined) continue;
    children.set(parent, [...children.get(parent) ?? [], pid]);
  }
  const samples: ProcessSample[] = [];
  for (const root of roots) {
    const tree = [root.pid];
    for (let i = 0; i < tree.length; i++) tree.push(...children.get(tree[i]!) ?? []);
    for (const pid of tree) {
      const status = read(`/proc/${pid}/status`);
      const cmdline = read(`/proc/${pid}/cmdline`);
      const started = procStart(pid);
      if (!status || cmdline === undefined || started === undefined) continue;
      const v8 = v8Of(pid);
      samples.push({
        pid,
        service: root.service,
        label: labelOf(cmdline),
        root: pid === root.pid,
        started,
        kib: statusKib(status, "RssAnon"),
        rssKib: statusKib(status, "VmRSS"),
        deno: runsDeno(pid),
        ...v8 ? { v8 } : {},
      });
    }
  }
  return samples;
}

export async function sampleDatabase(sql: postgres.Sql): Promise<DatabaseSample> {
  const connections = await sql<{ name: string; n: number }[]>`
    select coalesce(nullif(application_name, ''), 'no application_name (user ' || usename || ')')
             as name, count(*)::int as n
      from pg_stat_activity
     where backend_type = 'client backend' and pid <> pg_backend_pid()
     group by 1`;
  const tables = await sql<{ name: string; bytes: string }[]>`
    select n.nspname || '.' || c.relname as name, pg_total_relation_size(c.oid)::text as bytes
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'r' and n.nspname in ('public', 'private')`;
  const [jobs] = await sql<{ leases: number; pending: number; holding: number }[]>`
    select (select count(*)::int from public.jobs where status = 'in_progress') as leases,
           (select count(*)::int from public.jobs where status = 'pending') as pending,
           (select count(*)::int from public.worker_heartbeats
             where current_job_id is not null) as holding`;
  return {
    connections: Object.fromEntries(connections.map((c) => [c.name, c.n])),
    tableBytes: Object.fromEntries(tables.map((t) => [t.name, Number(t.bytes)])),
    leases: jobs!.leases,
    pending: jobs!.pending,
    workersHoldingJobs: jobs!.holding,
  };
}
