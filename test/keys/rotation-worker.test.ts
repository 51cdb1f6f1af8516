import { Writable } from 'node:stream';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { MasterKeyring } from '../../src/crypto/master-keyring';
import { startRotation } from '../../src/keys/key-rotation';
import { RotationWorker } from '../../src/keys/rotation-worker';
import { versionedKey } from '../crypto/crypto-fixtures';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { writeSubjects } from './rotation-fixtures';

const v1 = versionedKey('v1');
const v2 = versionedKey('v2');
const v1v2 = new MasterKeyring([v1, v2]);

let database: TestDatabase;

/** A worker whose log lines land in `lines`, parsed. */
function workerWithLog(keyring: MasterKeyring): { worker: RotationWorker; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { worker: new RotationWorker(database, keyring, pino(stream)), lines };
}

async function logged(lines: Record<string, unknown>[], msg: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const line = lines.find((entry) => entry.msg === msg);
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line "${msg}"`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('rotation worker', () => {
  beforeEach(async () => {
    database = await createTestDatabase();
  });

  it('logs why it leaves a rotation whose target version its MASTER_KEYS lacks', async () => {
    const v3 = new MasterKeyring([v1, v2, versionedKey('v3')]);
    const newer = await startRotation(database.db, v3, { actor: 'newer-instance' });
    const { worker, lines } = workerWithLog(v1v2);
    worker.kick();
    const line = await logged(
      lines,
      'key rotation: MASTER_KEYS on this instance lacks the target version; an instance that holds it runs the re-wrap',
    );
    await worker.stop();
    expect(line).toMatchObject({ level: 40, jobId: newer.id, targetVersion: 'v3' });
    const [job] = await database.sql`select status from key_rotation_jobs where id = ${newer.id}`;
    expect(job!.status).toBe('running');
  });

  it('warns, naming the version and no key material, when data keys are under a version its MASTER_KEYS lacks', async () => {
    await writeSubjects(database.db, new MasterKeyring([v1]), 2);
    const onlyV2 = new MasterKeyring([v2]);
    const job = await startRotation(database.db, onlyV2, { actor: 'test' });
    const { worker, lines } = workerWithLog(onlyV2);
    worker.kick();
    const line = await logged(
      lines,
      'key rotation: data keys are wrapped by master key v1, which MASTER_KEYS on this instance lacks; the job stays running for an instance that holds it (never remove v1 while data keys use it)',
    );
    await worker.stop();
    expect(line).toMatchObject({ level: 40, jobId: job.id, targetVersion: 'v2', kekVersion: 'v1' });
    expect(JSON.stringify(lines)).not.toMatch(/[0-9a-f]{64}/);
    const [row] = await database.sql`select status from key_rotation_jobs where id = ${job.id}`;
    expect(row!.status).toBe('running');
  });

  it('logs a batch that failed by its code, never the query parameters (the re-wrapped keys)', async () => {
    await writeSubjects(database.db, new MasterKeyring([v1]), 2);
    await startRotation(database.db, v1v2, { actor: 'test' });
    // A failure that is not transient, raised by the re-wrap's update itself.
    await database.sql.unsafe(`
      create function refuse_rewrap() returns trigger language plpgsql as
        $$ begin raise exception 'refused' using errcode = 'P0001'; end $$;
      create trigger refuse_rewrap before update on subject_data_keys
        for each row execute function refuse_rewrap();`);
    const { worker, lines } = workerWithLog(v1v2);
    worker.kick();
    const line = await logged(lines, 'key rotation stopped by an error; it resumes on the next start');
    await worker.stop();
    expect(line).toMatchObject({ level: 50, code: 'P0001' });
    // A wrapped data key is 61 bytes: 122 hex digits.
    expect(JSON.stringify(lines)).not.toMatch(/[0-9a-f]{64}/);
  });
});
