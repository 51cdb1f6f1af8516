import { asc } from 'drizzle-orm';
import type { Database } from '../db/database';
import { publishedSigningKeys } from './published-keys.schema';
import type { Signer } from './signing-key';

/** Records the signer's public key once, when an instance starts with it. */
export async function publishSigningKey(db: Database, signer: Signer): Promise<void> {
  await db
    .insert(publishedSigningKeys)
    .values({ kid: signer.kid, publicJwk: signer.publicJwk as Record<string, unknown> })
    .onConflictDoNothing();
}

/**
 * The JWKS: the signer's key first, then every key that signed before it, oldest first. A certificate
 * or checkpoint keeps verifying once SIGNING_KEY has changed.
 */
export async function publishedKeys(db: Database, signer: Signer): Promise<Record<string, unknown>[]> {
  const current = signer.publicJwk as Record<string, unknown>;
  let rows: { kid: string; publicJwk: Record<string, unknown> }[];
  try {
    rows = await db
      .select({ kid: publishedSigningKeys.kid, publicJwk: publishedSigningKeys.publicJwk })
      .from(publishedSigningKeys)
      .orderBy(asc(publishedSigningKeys.firstUsedAt));
  } catch {
    // No database, or its migrations not applied yet: the signer's key is still right.
    return [current];
  }
  return [current, ...rows.filter((row) => row.kid !== signer.kid).map((row) => row.publicJwk)];
}
