import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '../../src/crypto/subjects.schema';
import { timeOrderedUuid } from '../../src/db/time-ordered-uuid';
import { returns } from '../../src/returns/returns.schema';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { plainReturnRow } from './return-fixtures';

/**
 * The database's own check of a new return's subject (trigger returns_check_subject), whatever path
 * writes the return: a restricted subject's return starts restricted, an erased subject takes none.
 */
describe('returns_check_subject trigger', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });

  const insertFor = async (subject: { restrictedAt?: Date; erasedAt?: Date }) => {
    const subjectId = timeOrderedUuid();
    await database.db.insert(subjects).values({ id: subjectId, ...subject });
    const id = timeOrderedUuid();
    await database.db.insert(returns).values(plainReturnRow(id, subjectId, `ORD-${id}`));
    const [row] = await database.db.select().from(returns).where(eq(returns.id, id));
    return row!;
  };

  it('leaves the return of an ordinary subject active', async () => {
    const row = await insertFor({});
    expect([row.dataState, row.restrictedAt]).toEqual(['active', null]);
  });

  it("starts a restricted subject's return restricted", async () => {
    const row = await insertFor({ restrictedAt: new Date() });
    expect(row.dataState).toBe('restricted');
    expect(row.restrictedAt).toBeInstanceOf(Date);
  });

  it('refuses a return for an erased subject with a serialization failure, so the client retries', async () => {
    const refused = await insertFor({ erasedAt: new Date() }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ cause: { code: '40001' } });
  });
});
