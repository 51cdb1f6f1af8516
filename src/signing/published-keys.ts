import { asc } from 'drizzle-orm';
import type { JWK } from 'jose';
import type { Database } from '../db/database';
import { driverCodeOf } from '../db/database-errors';
import { publishedSigningKeys } from './published-keys.schema';
import type { Signer } from './signing-key';

/** The table is not there yet: its migration is pending (the instance answers /ready with 503). */
const isMissingTable = (error: unknown) => driverCodeOf(error) === '42P01';

/** Records the signer's public key once, when an instance starts with it (or the CLI signs with it). */
export async function publishSigningKey(db: Database, signer: Signer): Promise<void> {
  try {
    await db
      .insert(publishedSigningKeys)
      .values({ kid: signer.kid, publicJwk: signer.publicJwk })
      .onConflictDoNothing();
  } catch (error) {
    if (!isMissingTable(error)) throw error;
  }
}

/**
 * The JWKS: the signer's key first, then every key that signed before it, oldest first. A certificate
 * or checkpoint keeps verifying once SIGNING_KEY has changed.
 */
export async function publishedKeys(db: Database, signer: Signer): Promise<JWK[]> {
  const current = signer.publicJwk;
  let rows: { kid: string; publicJwk: JWK }[];
  try {
    rows = await db
      .select({ kid: publishedSigningKeys.kid, publicJwk: publishedSigningKeys.publicJwk })
      .from(publishedSigningKeys)
      .orderBy(asc(publishedSigningKeys.firstUsedAt));
  } catch (error) {
    // Migrations not applied yet: the signer's key is still right. Any other failure is an error (a
    // partial list, cached by clients, would make older signatures look forged).
    if (isMissingTable(error)) return [current];
    throw error;
  }
  return [current, ...rows.filter((row) => row.kid !== signer.kid).map((row) => row.publicJwk)];
}
