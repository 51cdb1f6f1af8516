import { type Command, InvalidArgumentError } from 'commander';
import { resolveAppConfig } from '../config/app-config';
import { connectDatabase } from '../db/connect';
import type { DatabaseHandle } from '../db/database';
import { type DeliveryView, listDeliveries, replayDelivery } from './deliveries';
import { type DeliveryStatus, deliveryStatuses } from './webhook-outbox.schema';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function withDatabase<T>(work: (database: DatabaseHandle) => Promise<T>): Promise<T> {
  const database = await connectDatabase(resolveAppConfig(), { maxConnections: 2 });
  try {
    return await work(database);
  } finally {
    await database.close();
  }
}

function deliveryLine(delivery: DeliveryView): string {
  const last = delivery.attemptLog.at(-1);
  const outcome = last ? (last.statusCode ?? last.errorClass ?? '') : '';
  return [
    delivery.id,
    delivery.status,
    delivery.eventType,
    delivery.subscriptionId,
    `attempts=${delivery.attempts}`,
    `last=${outcome}`,
    delivery.createdAt,
  ].join('\t');
}

/** `returnvault webhooks deliveries [--status] [--limit] [--json]` and `returnvault webhooks replay <id>`. */
export function registerWebhookCommands(program: Command): void {
  const webhooks = program.command('webhooks').description('webhook deliveries and dead letters');

  webhooks
    .command('deliveries')
    .description('list webhook deliveries, newest first, with their attempts')
    .option('--status <status>', `one of ${deliveryStatuses.join(', ')}`, (value: string) => {
      if (!deliveryStatuses.includes(value as DeliveryStatus)) {
        throw new InvalidArgumentError(`expected one of ${deliveryStatuses.join(', ')}`);
      }
      return value as DeliveryStatus;
    })
    .option('--limit <n>', 'how many (1-1000)', (value: string) => {
      const parsed = Number(value);
      if (!Number.isInteger(parsed) || parsed < 1 || parsed > 1000) {
        throw new InvalidArgumentError('expected an integer from 1 to 1000');
      }
      return parsed;
    })
    .option('--json', 'print every delivery with its attempts as JSON')
    .action(async (options: { status?: DeliveryStatus; limit?: number; json?: boolean }) => {
      const items = await withDatabase((database) =>
        listDeliveries(database.sql, { status: options.status, limit: options.limit ?? 50 }),
      );
      if (options.json) process.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      else for (const item of items) process.stdout.write(`${deliveryLine(item)}\n`);
    });

  webhooks
    .command('replay')
    .description('put a dead letter back in the queue (same webhook-id for the receiver)')
    .argument('<id>', 'delivery id', (value: string) => {
      if (!uuidPattern.test(value)) throw new InvalidArgumentError('expected a delivery id (uuid)');
      return value;
    })
    .action(async (id: string) => {
      const outcome = await withDatabase((database) =>
        replayDelivery(database, id, { actor: 'cli:webhooks' }),
      );
      if (!outcome.replayed) {
        throw new Error(
          outcome.reason === 'not_found'
            ? `no webhook delivery ${id}`
            : `delivery ${id} is not a dead letter`,
        );
      }
      process.stdout.write(`${deliveryLine(outcome.delivery)}\n`);
    });
}
