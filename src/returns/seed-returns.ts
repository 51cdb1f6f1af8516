import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { EmailBlindIndex } from '../crypto/blind-index';
import type { DataClass } from '../crypto/data-classes';
import { SubjectKeyset } from '../crypto/field-cipher';
import { generateDataKey, type MasterKeyring } from '../crypto/master-keyring';
import { subjectDataKeys } from '../crypto/subject-data-keys.schema';
import { subjects } from '../crypto/subjects.schema';
import { bulkInsert } from '../db/bulk-insert';
import type { Database } from '../db/database';
import type { ReturnRulesPolicy } from '../policies/return-rules-policy';
import { mapCarrierCode } from './carrier-codes';
import { computeLegalClocks } from './legal-clocks';
import { postalArea } from './postal-codes';
import { encryptEventDetails, encryptReturnPersonalData } from './return-personal-data';
import { insertReturnBatch } from './return-repository';
import { deriveStatus, type EventType } from './return-status';
import type { NewReturnEventRow, NewReturnRow } from './returns.schema';

/*
 * Synthetic returns for demos and benchmarks, written through the same field encryption as the API.
 * Subjects and their data keys are created in bulk here (one statement per table and batch) instead of one
 * findOrCreateSubject per row: every e-mail is new by construction, so there is nothing to look up.
 */

const firstNames = [
  'Camille',
  'Léa',
  'Hugo',
  'Louis',
  'Chloé',
  'Jules',
  'Manon',
  'Lucas',
  'Inès',
  'Nathan',
  'Emma',
  'Théo',
];
const lastNames = [
  'Martin',
  'Bernard',
  'Dubois',
  'Thomas',
  'Robert',
  'Richard',
  'Petit',
  'Durand',
  'Leroy',
  'Moreau',
];
const streets = [
  'rue de la République',
  'avenue Jean Jaurès',
  'rue Victor Hugo',
  'boulevard Pasteur',
  'place de la Mairie',
];
const cities: [string, string][] = [
  ['75011', 'Paris'],
  ['69003', 'Lyon'],
  ['13006', 'Marseille'],
  ['31000', 'Toulouse'],
  ['33000', 'Bordeaux'],
  ['59000', 'Lille'],
  ['44000', 'Nantes'],
  ['67000', 'Strasbourg'],
];
const reasons = ['wrong_size', 'changed_mind', 'defective', 'damaged', 'not_as_described', 'late_delivery'];
const methods = ['mailbox', 'post_office', 'pickup_point'] as const;
/** Carrier scans of a return's life, in order; each return stops somewhere along it. */
const journey = ['EMLCFM', 'ECHCFM', 'ET1', 'DI1'];
const ibans = ['FR1420041010050500013M02606', 'FR7630006000011234567890189', 'DE89370400440532013000'];

const dayMs = 86_400_000;

function pick<T>(list: readonly T[], random: () => number): T {
  return list[Math.floor(random() * list.length)]!;
}

/** A small fast PRNG (mulberry32): seeded data is reproducible in shape, cheap to produce. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface SeedDependencies {
  db: Database;
  keyring: MasterKeyring;
  emailIndex: EmailBlindIndex;
  rules: ReturnRulesPolicy;
}

export interface SeedOptions {
  count: number;
  batchSize?: number;
  /** Batches written at the same time: encryption of the next overlaps the insert of the current. */
  concurrency?: number;
  merchants?: number;
  onProgress?: (done: number) => void;
}

interface Batch {
  subjectRows: (typeof subjects.$inferInsert)[];
  keyRows: (typeof subjectDataKeys.$inferInsert)[];
  returnRows: NewReturnRow[];
  eventRows: NewReturnEventRow[];
}

function keysetFor(
  deps: SeedDependencies,
  subjectId: string,
  classes: DataClass[],
  batch: Batch,
): SubjectKeyset {
  const stored = new Map<DataClass, { wrappedKey: Buffer; kekVersion: string; generation: number }>();
  const fresh = new Map<DataClass, Buffer>();
  for (const dataClass of classes) {
    const dek = generateDataKey();
    const { wrapped, kekVersion } = deps.keyring.wrap(dek, { subjectId, dataClass });
    stored.set(dataClass, { wrappedKey: wrapped, kekVersion, generation: 1 });
    fresh.set(dataClass, dek);
    batch.keyRows.push({ subjectId, dataClass, wrappedKey: wrapped, kekVersion });
  }
  return new SubjectKeyset(subjectId, deps.keyring, stored, fresh);
}

function buildBatch(
  deps: SeedDependencies,
  options: Required<Omit<SeedOptions, 'onProgress'>>,
  run: string,
  start: number,
  size: number,
): Batch {
  const random = prng(start + 1);
  const batch: Batch = { subjectRows: [], keyRows: [], returnRows: [], eventRows: [] };
  const now = Date.now();
  for (let index = start; index < start + size; index++) {
    const first = pick(firstNames, random);
    const last = pick(lastNames, random);
    const email = `${first}.${last}.${run}${index}@example.com`.toLowerCase();
    const subjectId = randomUUID();
    const { version, digest } = deps.emailIndex.compute(email);
    batch.subjectRows.push({ id: subjectId, emailIndex: digest, emailIndexVersion: version });
    const bankTransfer = random() < 0.3;
    const keys = keysetFor(deps, subjectId, bankTransfer ? ['contact', 'payment'] : ['contact'], batch);

    const id = randomUUID();
    const deliveredAt = new Date(now - (3 + Math.floor(random() * 300)) * dayMs);
    const notifiedAt = new Date(deliveredAt.getTime() + Math.floor(random() * 10) * dayMs);
    const [postalCode, city] = pick(cities, random);
    const itemCount = 1 + Math.floor(random() * 3);
    const items = Array.from({ length: itemCount }, () => ({
      sku: `SKU-${Math.floor(random() * 50_000)}`,
      quantity: 1 + Math.floor(random() * 2),
      unitPriceCents: 500 + Math.floor(random() * 20_000),
      reason: pick(reasons, random),
    }));
    const comments = items.map(() => (random() < 0.2 ? 'Article reçu abîmé, emballage déchiré' : null));

    const steps = Math.floor(random() * (journey.length + 1));
    const events: NewReturnEventRow[] = [];
    for (let step = 0; step < steps; step++) {
      const code = journey[step]!;
      const eventId = randomUUID();
      const occurredAt = new Date(notifiedAt.getTime() + (step + 1) * dayMs);
      events.push({
        id: eventId,
        returnId: id,
        type: mapCarrierCode(code).type,
        origin: 'carrier',
        carrierCode: code,
        carrier: 'colissimo',
        occurredAt,
        receivedAt: occurredAt,
        dedupeKey: createHash('sha256')
          .update(`${id}\u0000${code}\u0000${occurredAt.toISOString()}`)
          .digest('hex'),
        reason: mapCarrierCode(code).reason ?? null,
        ...encryptEventDetails(keys, eventId, code === 'ECHCFM' ? { location: `${postalCode} ${city}` } : {}),
      });
    }
    const eventFacts = events.map((event, sequence) => ({
      type: event.type as EventType,
      occurredAt: event.occurredAt,
      sequence,
    }));
    const clocks = computeLegalClocks(
      { deliveredAt, notifiedAt, withdrawalInfoGiven: true },
      eventFacts,
      deps.rules,
      new Date(now),
    );
    batch.eventRows.push(...events);
    batch.returnRows.push({
      id,
      merchantId: `m-${1 + (index % options.merchants)}`,
      orderRef: `SEED-${run}-${index}`,
      subjectId,
      status: deriveStatus(eventFacts),
      method: pick(methods, random),
      refundMethod: bankTransfer ? 'bank_transfer' : 'original_payment',
      deliveredAt,
      notifiedAt,
      withdrawalDeadline: clocks.withdrawalDeadline,
      returnDeadline: clocks.returnDeadline,
      refundDueAt: clocks.refund.dueAt,
      items,
      totalCents: items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0),
      parcel: { weightGrams: 200 + Math.floor(random() * 5000), lengthMm: 300, widthMm: 200, heightMm: 100 },
      postalArea: postalArea('FR', postalCode),
      country: 'FR',
      ...encryptReturnPersonalData(keys, id, {
        name: `${first} ${last}`,
        email,
        phone: `+336${String(10_000_000 + Math.floor(random() * 89_999_999))}`,
        line1: `${1 + Math.floor(random() * 120)} ${pick(streets, random)}`,
        line2: random() < 0.2 ? `Bâtiment ${String.fromCharCode(65 + Math.floor(random() * 6))}` : null,
        postalCode,
        city,
        itemComments: comments,
        iban: bankTransfer ? pick(ibans, random) : null,
      }),
    });
  }
  return batch;
}

/** Seeds `count` returns in batches; resolves with what was written. */
export async function seedReturns(
  deps: SeedDependencies,
  options: SeedOptions,
): Promise<{ returns: number; ms: number }> {
  const settings = {
    count: options.count,
    batchSize: options.batchSize ?? 1000,
    concurrency: options.concurrency ?? 2,
    merchants: options.merchants ?? 20,
  };
  const run = randomBytes(4).toString('hex');
  const started = Date.now();
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < settings.count) {
      const start = next;
      const size = Math.min(settings.batchSize, settings.count - start);
      next += size;
      const batch = buildBatch(deps, settings, run, start, size);
      await deps.db.$client.begin(async (tx) => {
        await bulkInsert(tx, subjects, batch.subjectRows);
        await bulkInsert(tx, subjectDataKeys, batch.keyRows);
        await insertReturnBatch(tx, batch.returnRows, batch.eventRows);
      });
      done += size;
      options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: settings.concurrency }, worker));
  await recordAuditEvent(
    deps.db,
    {},
    {
      actor: 'cli:seed',
      action: 'returns.seed',
      outcome: 'success',
      targetType: 'return',
      details: { count: settings.count, run },
    },
  );
  return { returns: settings.count, ms: Date.now() - started };
}
