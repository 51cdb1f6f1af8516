import { createHash } from 'node:crypto';
import type { EmailBlindIndex } from '../crypto/blind-index';
import type { DataClass } from '../crypto/data-classes';
import { SubjectKeyset } from '../crypto/field-cipher';
import { generateDataKey, type MasterKeyring } from '../crypto/master-keyring';
import { subjectDataKeys } from '../crypto/subject-data-keys.schema';
import { subjects } from '../crypto/subjects.schema';
import { type PreparedBulkInsert, prepareBulkInsert } from '../db/bulk-insert';
import { timeOrderedUuid } from '../db/time-ordered-uuid';
import type { ReturnRulesPolicy } from '../policies/return-rules-policy';
import { mapCarrierCode } from './carrier-codes';
import { computeLegalClocks } from './legal-clocks';
import { postalArea } from './postal-codes';
import { encryptEventDetails, encryptReturnPersonalData } from './return-personal-data';
import { deriveStatus, type EventType } from './return-status';
import { type NewReturnEventRow, type NewReturnRow, returnEvents, returns } from './returns.schema';

/*
 * One batch of synthetic returns, written through the same field encryption as the API, as the bulk
 * inserts that store it (subjects, their data keys, returns, events, in that order). Subjects and keys
 * are created in bulk (one statement per table and batch) instead of one findOrCreateSubject per row:
 * every e-mail is new by construction, so there is nothing to look up. Pure computation: the seed runs
 * it in worker threads (seed-worker.ts).
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

/** What building a batch needs: the keys it encrypts and wraps under, and the legal clocks' rules. */
export interface BatchDependencies {
  keyring: MasterKeyring;
  emailIndex: EmailBlindIndex;
  rules: ReturnRulesPolicy;
}

/** Which returns a batch holds: `size` from index `start` of seed run `run`. */
export interface BatchRequest {
  run: string;
  start: number;
  size: number;
  merchants: number;
}

interface Batch {
  subjectRows: (typeof subjects.$inferInsert)[];
  keyRows: (typeof subjectDataKeys.$inferInsert)[];
  returnRows: NewReturnRow[];
  eventRows: NewReturnEventRow[];
}

function keysetFor(
  deps: BatchDependencies,
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

function buildBatch(deps: BatchDependencies, { run, start, size, merchants }: BatchRequest): Batch {
  const random = prng(start + 1);
  const batch: Batch = { subjectRows: [], keyRows: [], returnRows: [], eventRows: [] };
  const now = Date.now();
  for (let index = start; index < start + size; index++) {
    const first = pick(firstNames, random);
    const last = pick(lastNames, random);
    const email = `${first}.${last}.${run}${index}@example.com`.toLowerCase();
    const subjectId = timeOrderedUuid();
    const { version, digest } = deps.emailIndex.compute(email);
    batch.subjectRows.push({ id: subjectId, emailIndex: digest, emailIndexVersion: version });
    const bankTransfer = random() < 0.3;
    const keys = keysetFor(deps, subjectId, bankTransfer ? ['contact', 'payment'] : ['contact'], batch);

    const id = timeOrderedUuid();
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
      const eventId = timeOrderedUuid();
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
      merchantId: `m-${1 + (index % merchants)}`,
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

/** The batch of `request`, encrypted, as the bulk inserts that store it, in foreign-key order. */
export function prepareSeedBatch(deps: BatchDependencies, request: BatchRequest): PreparedBulkInsert[] {
  const batch = buildBatch(deps, request);
  return [
    prepareBulkInsert(subjects, batch.subjectRows),
    prepareBulkInsert(subjectDataKeys, batch.keyRows),
    prepareBulkInsert(returns, batch.returnRows),
    prepareBulkInsert(returnEvents, batch.eventRows),
  ];
}
