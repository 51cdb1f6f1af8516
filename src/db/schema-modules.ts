/*
 * Every `*.schema.ts` under src/ (the files drizzle.config.ts collects), imported for what they declare
 * beside their tables: the encrypted columns of the encryption map, checked at start even before a
 * route imports them. A static list, so the bundled server (`npm run build`) carries them all;
 * test/db/schema-modules.test.ts fails when a schema file is missing here.
 */
import '../audit/audit-events.schema';
import '../audit/audit-log.schema';
import '../crypto/subject-data-keys.schema';
import '../crypto/subjects.schema';
import '../keys/key-rotation-jobs.schema';
import '../legal-holds/legal-holds.schema';
import '../pseudonymization/disclosure-register.schema';
import '../pseudonymization/feed-deletions.schema';
import '../retention/retention-runs.schema';
import '../returns/refund-overdue-notices.schema';
import '../returns/returns.schema';
import '../signing/published-keys.schema';
import '../subject-requests/subject-requests.schema';
import '../webhooks/webhook-outbox.schema';
