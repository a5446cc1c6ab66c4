/**
 * A TCP proxy on 127.0.0.1 in front of a real server, that a test can break and mend without
 * stopping the server other tests share:
 * - down(): closes the listener and every connection through it (clients see their connections
 *   reset, then refused); up() listens again on the same port;
 * - silence(): a network that drops everything: connections stay open, new ones are accepted,
 *   and no byte gets through either way; restore() lets the held bytes go on.
 * `onClientBytes` sees what each client connection sends (see pg_wire.ts), as it passes.
 */
export interface TcpProxy {
  port: number;
  down(): void;
  up(): void;
  silence(): void;
  restore(): void;
  close(): Promise<void>;
}

export function tcpProxy(
  targetPort: number,
  options: { onClientBytes?: (connection: number, bytes: Uint8Array) => void } = {},
): TcpProxy {
  let connections = 0;
  let listener: Deno.TcpListener | undefined;
  let accepting: Promise<void> = Promise.resolve();
  const open = new Set<Deno.Conn>();
  const pumps = new Set<Promise<void>>();
  let port = 0;
  let silent: { restored: Promise<void>; restore(): void } | undefined;

  const closeQuietly = (conn: Deno.Conn) => {
    if (!open.delete(conn)) return;
    try {
      conn.close();
    } catch { /* already closed */ }
  };

  /** Copies bytes from one side to the other, holding them while the network is silent. */
  const pump = (from: Deno.Conn, to: Deno.Conn, observe?: (bytes: Uint8Array) => void) => {
    const done = (async () => {
      const reader = from.readable.getReader();
      const writer = to.writable.getWriter();
      try {
        while (true) {
          const { value, done } = await reader.read();
          if (done) break;
          while (silent) await silent.restored;
          observe?.(value);
          await writer.write(value);
        }
      } catch {
        // The connection was cut.
      } finally {
        closeQuietly(from);
        closeQuietly(to);
      }
    })();
    pumps.add(done);
    done.finally(() => pumps.delete(done));
  };

  const listen = () => {
    listener = Deno.listen({ hostname: "127.0.0.1", port });
    port = listener.addr.port;
    const current = listener;
    accepting = (async () => {
      for await (const client of current) {
        try {
          const server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
          open.add(client).add(server);
          const id = ++connections;
          const observe = options.onClientBytes;
          pump(client, server, observe && ((bytes) => observe(id, bytes)));
          pump(server, client);
        } catch {
          client.close();
        }
      }
    })().catch(() => {});
  };

  const down = () => {
    listener?.close();
    listener = undefined;
    for (const conn of [...open]) closeQuietly(conn);
  };

  const restore = () => {
    silent?.restore();
    silent = undefined;
  };

  listen();
  return {
    get port() {
      return port;
    },
    down,
    up: listen,
    silence() {
      if (silent) return;
      let resolve!: () => void;
      const restored = new Promise<void>((r) => (resolve = r));
      silent = { restored, restore: resolve };
    },
    restore,
    async close() {
      restore();
      down();
      await accepting;
      await Promise.all(pumps);
    },
  };
}
