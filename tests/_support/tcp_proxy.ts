/**
 * A TCP proxy on 127.0.0.1 in front of a real server, that a test can cut and restore: down()
 * closes the listener and every connection through it (clients see their connections reset,
 * then refused), up() listens again on the same port. A network outage without stopping the
 * server other tests share.
 */
export interface TcpProxy {
  port: number;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export function tcpProxy(targetPort: number): TcpProxy {
  let listener: Deno.TcpListener | undefined;
  let accepting: Promise<void> = Promise.resolve();
  const open = new Set<Deno.Conn>();
  const pipes = new Set<Promise<void>>();
  let port = 0;

  const pipe = (from: Deno.Conn, to: Deno.Conn) => {
    const done = from.readable.pipeTo(to.writable).catch(() => {}).finally(() => {
      for (const conn of [from, to]) {
        if (open.delete(conn)) {
          try {
            conn.close();
          } catch { /* already closed */ }
        }
      }
      pipes.delete(done);
    });
    pipes.add(done);
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
          pipe(client, server);
          pipe(server, client);
        } catch {
          client.close();
        }
      }
    })().catch(() => {});
  };

  const down = () => {
    listener?.close();
    listener = undefined;
    for (const conn of open) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    open.clear();
  };

  listen();
  return {
    get port() {
      return port;
    },
    down,
    up: listen,
    async close() {
      down();
      await accepting;
      await Promise.all(pipes);
    },
  };
}
