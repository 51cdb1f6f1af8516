import net from 'node:net';
import { type DatabaseHandle, openDatabase } from '../../src/db/database';

// The server's CommandComplete message for a COMMIT: 'C', its length (11), then the tag.
const commitComplete = Buffer.concat([Buffer.from([0x43, 0, 0, 0, 11]), Buffer.from('COMMIT\0')]);

/**
 * A connection pool whose connections pass through a TCP relay that, once armed, drops the connection
 * carrying the next COMMIT's reply instead of delivering it: the transaction is committed, and the
 * client sees a lost connection, as when a failover or a network cut lands after the commit.
 */
export async function poolLosingACommitReply(
  databaseUrl: string,
): Promise<{ database: DatabaseHandle; cutNextCommitReply(): void; close(): Promise<void> }> {
  const target = new URL(databaseUrl);
  let armed = false;
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((client) => {
    const server = net.connect(Number(target.port || 5432), target.hostname.replace(/^\[|\]$/g, ''));
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        server.destroy();
      });
      socket.on('error', () => {});
    }
    client.pipe(server);
    // The tail of the previous chunk, should the message straddle two.
    let tail = Buffer.alloc(0);
    server.on('data', (chunk: Buffer) => {
      const seen = Buffer.concat([tail, chunk]);
      if (armed && seen.includes(commitComplete)) {
        armed = false;
        client.destroy();
        return;
      }
      tail = seen.subarray(Math.max(0, seen.length - commitComplete.length + 1));
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const relayed = new URL(databaseUrl);
  relayed.hostname = '127.0.0.1';
  relayed.port = String((relay.address() as net.AddressInfo).port);
  const database = openDatabase(relayed.toString(), { maxConnections: 2 });
  return {
    database,
    cutNextCommitReply: () => {
      armed = true;
    },
    close: async () => {
      // At once: after the cut, a graceful end was seen to wait out its whole timeout.
      await database.sql.end({ timeout: 0 });
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}
