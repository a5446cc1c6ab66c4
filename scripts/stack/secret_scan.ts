/**
 * Looks for secret values in text: the test runner scans every log of its stack and the tests'
 * own output for the service role key, the JWT secret, the Slack webhook token and the AWS
 * secret, and counts a leak as a failed test.
 */

export interface Leak {
  where: string;
  secret: string;
}

export function findLeaks(
  sources: { where: string; text: string }[],
  secrets: Record<string, string>,
): Leak[] {
  const leaks: Leak[] = [];
  for (const [secret, value] of Object.entries(secrets)) {
    // Short values would match by chance; every secret here is long and random.
    if (value.length < 16) throw new Error(`secret ${secret} is too short to look for`);
    for (const { where, text } of sources) {
      if (text.includes(value)) leaks.push({ where, secret });
    }
  }
  return leaks;
}

/** Every *.log file under dir (one level, where the stack writes them). */
export function logFiles(dir: string): { where: string; text: string }[] {
  return [...Deno.readDirSync(dir)]
    .filter((e) => e.isFile && e.name.endsWith(".log"))
    .map((e) => ({ where: e.name, text: Deno.readTextFileSync(`${dir}/${e.name}`) }));
}
