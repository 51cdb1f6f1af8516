import { defineConfig } from 'drizzle-kit';

// Schema files live beside the capability they belong to; drizzle-kit collects them by suffix.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/**/*.schema.ts',
  out: './migrations',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://localhost:5432/returnvault' },
  strict: true,
});
