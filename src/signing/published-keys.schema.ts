import { jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import type { JWK } from 'jose';

/**
 * Every public key that has signed for this service (erasure certificates, audit checkpoints), so the
 * JWKS still verifies what an earlier SIGNING_KEY signed after the key changed. Public halves only.
 */
export const publishedSigningKeys = pgTable('published_signing_keys', {
  kid: text('kid').primaryKey(),
  publicJwk: jsonb('public_jwk').$type<JWK>().notNull(),
  firstUsedAt: timestamp('first_used_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});
