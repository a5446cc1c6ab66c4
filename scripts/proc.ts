/**
 * A process's /proc/<pid>/stat (Linux), the fields after its command name, which may itself hold
 * spaces and parentheses: [0] state, [1] parent pid, [11] utime, [12] stime, [19] start time (all
 * times in clock ticks). Undefined once the process has ended.
 */
export function procStat(pid: number): string[] | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}
