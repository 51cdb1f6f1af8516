import { Buffer } from 'node:buffer';
import { createPrivateKey } from 'node:crypto';
import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import { versionedKeyListSchema } from './keyring-format';

/** Thrown for any configuration mistake; the CLI prints its message as one line, without a stack. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value));

/**
 * A whole number from `min` to `max`, written in digits; unset or empty takes the default. (A coerced
 * number would read an empty PORT as 0, a random port, and take `1e3` or `0x50`.)
 */
const wholeNumber = (min: number, max: number, fallback: number) =>
  optionalString
    .pipe(
      z
        .string()
        .regex(/^\d{1,15}$/, 'expected a whole number')
        .transform(Number)
        .pipe(z.number().min(min).max(max))
        .optional(),
    )
    .transform((value) => value ?? fallback);

const base64Secret = (minBytes: number) =>
  z.string().refine((value) => Buffer.from(value, 'base64').length >= minBytes, {
    message: `expected base64 of at least ${minBytes} bytes`,
  });

const booleanFlag = optionalString.pipe(
  z
    .enum(['true', 'false'], { error: 'expected true or false' })
    .transform((value) => value === 'true')
    .optional(),
);

/** `subscription-id:whsec_<base64 of 24 to 64 bytes>,...`: the Standard Webhooks secret of each subscription. */
const webhookSecretList = z
  .string()
  .transform((value) => value.split(',').map((entry) => entry.trim()))
  .pipe(
    z.array(
      z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}:whsec_[A-Za-z0-9+/]+={0,2}$/, {
        message: 'expected subscription-id:whsec_<base64>, comma-separated',
      }),
    ),
  )
  .transform((entries) => entries.map((entry) => entry.split(':') as [string, string]))
  .refine(
    (pairs) =>
      pairs.every(([, secret]) => {
        const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64').length;
        return bytes >= 24 && bytes <= 64;
      }),
    { message: 'each whsec_ secret must hold 24 to 64 bytes' },
  )
  .refine((pairs) => new Set(pairs.map(([id]) => id)).size === pairs.length, {
    message: 'a subscription id appears twice',
  })
  .transform((pairs) => Object.fromEntries(pairs));

const ed25519PrivateKeyPem = z.string().refine(
  (value) => {
    try {
      return createPrivateKey(value.replaceAll('\\n', '\n')).asymmetricKeyType === 'ed25519';
    } catch {
      return false;
    }
  },
  { message: 'expected an Ed25519 private key in PKCS#8 PEM' },
);

/** Every environment variable the service reads, in one schema (CONTRACT.md section 3). */
export const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
      .optional(),
  ),
  DATA_DIR: z.string().min(1).default('./.data'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: wholeNumber(0, 65535, 3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  JWT_SECRET: optionalString.pipe(
    z
      .string()
      .refine((value) => Buffer.byteLength(value, 'utf8') >= 32, { message: 'must be at least 32 bytes' })
      .optional(),
  ),
  JWT_JWKS_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  JWT_PUBLIC_KEY: optionalString,
  JWT_ISSUER: z.string().min(1).default('returnvault'),
  JWT_AUDIENCE: z.string().min(1).default('returnvault-api'),
  MASTER_KEYS: optionalString.pipe(versionedKeyListSchema.optional()),
  BLIND_INDEX_KEYS: optionalString.pipe(versionedKeyListSchema.optional()),
  PSEUDONYM_SECRET: optionalString.pipe(base64Secret(32).optional()),
  SIGNING_KEY: optionalString.pipe(ed25519PrivateKeyPem.optional()),
  RETENTION_CRON: z
    .string()
    .default('0 3 * * *')
    .refine((value) => validateCron(value), { message: 'not a valid cron expression' }),
  POLICIES_DIR: z.string().min(1).default('./policies'),
  WEBHOOK_SECRETS: optionalString.pipe(webhookSecretList.optional()),
  WEBHOOK_ALLOW_LOOPBACK: booleanFlag,
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: booleanFlag,
  SHUTDOWN_TIMEOUT_MS: wholeNumber(0, 3_600_000, 10_000),
  REQUEST_TIMEOUT_MS: wholeNumber(100, 600_000, 30_000),
  BODY_LIMIT_BYTES: wholeNumber(1024, 1024 ** 3, 256 * 1024),
});

export type Environment = z.infer<typeof environmentSchema>;

/** Parses the environment; the first problem becomes a one-line ConfigError naming the variable. */
export function parseEnvironment(env: NodeJS.ProcessEnv): Environment {
  const result = environmentSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`invalid configuration: ${issue.path.join('.')}: ${issue.message}`);
  }
  const parsed = result.data;
  if (parsed.JWT_JWKS_URL && parsed.JWT_PUBLIC_KEY) {
    throw new ConfigError(
      'invalid configuration: JWT_PUBLIC_KEY: set either JWT_JWKS_URL or JWT_PUBLIC_KEY, not both',
    );
  }
  return parsed;
}
