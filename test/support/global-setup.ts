import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../src/db/database';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { applyMigrations } from '../../src/db/migrations';

declare module 'vitest' {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
    templateDatabase: string;
    hostileSummaryFile: string;
  }
}

const templateDatabase = `returnvault_template_${process.pid}`;

interface Server {
  url: string;
  stop(): Promise<void>;
}

/** Testcontainers, when a Docker engine answers within a few seconds; undefined otherwise. */
async function startContainer(): Promise<Server | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no docker')), 5000)),
    ]);
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17-alpine').start();
    return { url: container.getConnectionUri(), stop: async () => void (await container.stop()) };
  } catch {
    return undefined;
  }
}

async function startEmbedded(): Promise<Server> {
  const dir = mkdtempSync(path.join(tmpdir(), 'returnvault-test-'));
  const cluster = await startEmbeddedPostgres(dir, { persistent: false });
  return {
    url: cluster.url,
    stop: async () => {
      await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One PostgreSQL for the whole run: TEST_DATABASE_URL, else Testcontainers, else embedded. Migrations
 * are applied once to a template database; each test file clones it (see test-database.ts).
 */
export default async function setup(project: TestProject) {
  const server: Server = process.env.TEST_DATABASE_URL
    ? { url: process.env.TEST_DATABASE_URL, stop: async () => {} }
    : ((await startContainer()) ?? (await startEmbedded()));

  const admin = openDatabase(server.url, { maxConnections: 1 });
  await admin.sql.unsafe(`drop database if exists ${templateDatabase}`);
  await admin.sql.unsafe(`create database ${templateDatabase}`);
  const templateUrl = new URL(server.url);
  templateUrl.pathname = `/${templateDatabase}`;
  const template = openDatabase(templateUrl.toString(), { maxConnections: 1 });
  await applyMigrations(template);
  await template.close();

  const summaryFile = path.join(mkdtempSync(path.join(tmpdir(), 'returnvault-hostile-')), 'summary.txt');
  writeFileSync(summaryFile, '');
  project.provide('hostileSummaryFile', summaryFile);
  project.provide('adminDatabaseUrl', server.url);
  project.provide('templateDatabase', templateDatabase);

  return async () => {
    const summary = readFileSync(summaryFile, 'utf8').trim();
    if (summary) console.log(`\nhostile suite summary:\n${summary}\n`);
    await admin.sql.unsafe(`drop database if exists ${templateDatabase} with (force)`).catch(() => {});
    await admin.close();
    await server.stop();
  };
}
