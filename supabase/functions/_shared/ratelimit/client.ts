/**
 * Who the client is, for rate limiting. Never the leftmost X-Forwarded-For entry: anyone can
 * write it. Either a header set by a trusted proxy, or the entry that many hops from the right
 * (each proxy appends the address it received the request from).
 *
 *   RATE_LIMIT_CLIENT_IP=xff:1                  (default) the rightmost X-Forwarded-For entry
 *   RATE_LIMIT_CLIENT_IP=header:cf-connecting-ip a header your edge proxy sets
 *
 * IPv6 clients are grouped by /64: one host usually owns the whole prefix.
 */
import type { Env } from "../config.ts";

export type ClientIpSource = { kind: "xff"; hops: number } | { kind: "header"; name: string };

export function clientIpSourceFromEnv(env: Env, fn: string): ClientIpSource {
  const raw = env.RATE_LIMIT_CLIENT_IP?.trim() || "xff:1";
  const xff = /^xff:(\d+)$/.exec(raw);
  if (xff && Number(xff[1]) >= 1) return { kind: "xff", hops: Number(xff[1]) };
  const header = /^header:([A-Za-z0-9-]+)$/.exec(raw);
  if (header) return { kind: "header", name: header[1]!.toLowerCase() };
  throw new Error(
    `Cannot start ${fn}: RATE_LIMIT_CLIENT_IP must be xff:<hops> or header:<name>, got '${raw}'`,
  );
}

/** The /64 prefix of an IPv6 address (as 4 hextets), or the IPv4 address itself. */
export function groupAddress(address: string): string {
  const ip = address.trim().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!ip.includes(":")) return ip;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  const [head = "", tail = ""] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const missing = ip.includes("::") ? 8 - left.length - right.length : 0;
  const full = [...left, ...Array(Math.max(0, missing)).fill("0"), ...right];
  return full.slice(0, 4).map((h) => (h || "0").toLowerCase().replace(/^0+(?=.)/, "")).join(":") +
    "::/64";
}

/** The client's address as the configured source gives it, or undefined if absent. */
export function clientAddress(req: Request, source: ClientIpSource): string | undefined {
  if (source.kind === "header") {
    const value = req.headers.get(source.name)?.split(",")[0]?.trim();
    return value ? groupAddress(value) : undefined;
  }
  const entries = (req.headers.get("x-forwarded-for") ?? "").split(",").map((s) => s.trim())
    .filter(Boolean);
  const entry = entries[entries.length - source.hops];
  return entry ? groupAddress(entry) : undefined;
}
