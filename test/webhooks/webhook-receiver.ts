import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: IncomingMessage['headers'];
  body: string;
  receivedAt: number;
}

export type ReceiverHandler = (request: ReceivedWebhook, response: ServerResponse) => void;

/** A real HTTP receiver on 127.0.0.1 that keeps every request it got. */
export interface WebhookReceiver {
  url: string;
  port: number;
  received: ReceivedWebhook[];
  handle: ReceiverHandler;
  /** Stops listening (the receiver is "down"); `listen()` brings it back on the same port. */
  close(): Promise<void>;
  listen(): Promise<void>;
}

const answerOk: ReceiverHandler = (_request, response) => {
  response.writeHead(204).end();
};

export async function startReceiver(
  options: { port?: number; listening?: boolean } = {},
): Promise<WebhookReceiver> {
  let server: Server | undefined;
  const receiver: WebhookReceiver = {
    url: '',
    port: options.port ?? 0,
    received: [],
    handle: answerOk,
    async listen() {
      server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          const webhook = {
            headers: request.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            receivedAt: Date.now(),
          };
          receiver.received.push(webhook);
          receiver.handle(webhook, response);
        });
      });
      await new Promise<void>((resolve) => server!.listen(receiver.port, '127.0.0.1', resolve));
      receiver.port = (server.address() as AddressInfo).port;
      receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
    },
    async close() {
      if (!server) return;
      const closing = server;
      server = undefined;
      closing.closeAllConnections();
      await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
  await receiver.listen();
  if (options.listening === false) await receiver.close();
  return receiver;
}

/** Polls until the condition holds; fails with the label after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  label: string,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
