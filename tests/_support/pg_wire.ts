/**
 * Counts database round trips on the wire: what clients send to Postgres, read from a TCP proxy
 * in front of it (tcp_proxy.ts). A round trip is one Sync (the end of an extended-protocol
 * statement: node-postgres sends Parse/Bind/Execute/Sync in one write and waits) or one simple
 * Query ('Q': begin, commit, a statement without parameters). Start-up and authentication are
 * not counted.
 */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export interface RoundTripCounter {
  /** Feed for tcpProxy's onClientBytes. */
  observe(connection: number, bytes: Uint8Array): void;
  /** Round trips seen so far, over every connection. */
  count(): number;
}

export function pgRoundTrips(): RoundTripCounter {
  const connections = new Map<number, { startedUp: boolean; pending: Uint8Array }>();
  let total = 0;
  return {
    observe(connection, bytes) {
      let state = connections.get(connection);
      if (!state) {
        connections.set(connection, state = { startedUp: false, pending: new Uint8Array() });
      }
      const buffer = new Uint8Array(state.pending.length + bytes.length);
      buffer.set(state.pending);
      buffer.set(bytes, state.pending.length);
      const view = new DataView(buffer.buffer);
      let at = 0;
      while (true) {
        if (!state.startedUp) {
          // Untyped: int32 length (itself included), then a request code or the start-up packet.
          if (buffer.length - at < 8) break;
          const length = view.getInt32(at);
          if (buffer.length - at < length) break;
          const code = view.getInt32(at + 4);
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) state.startedUp = true;
          at += length;
          continue;
        }
        // Typed: one byte of type, then int32 length (itself included, the type byte not).
        if (buffer.length - at < 5) break;
        const length = view.getInt32(at + 1);
        if (buffer.length - at < 1 + length) break;
        const type = String.fromCharCode(buffer[at]!);
        if (type === "S" || type === "Q") total++;
        at += 1 + length;
      }
      state.pending = buffer.slice(at);
    },
    count: () => total,
  };
}
