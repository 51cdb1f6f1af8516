import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Environment, parseEnvironment } from './config';
import type { VersionedKey } from './keyring-format';
import { versionedKeyListSchema } from './keyring-format';

export interface JwtSettings {
  secret?: string;
  jwksUrl?: string;
  publicKey?: string;
  issuer: string;
  audience: string;
}

export interface WebhookSettings {
  /** Configured signing secrets by subscription id (`whsec_...`); others are generated in development. */
  secrets: Record<string, string>;
  /** Plain-http targets on loopback (development receivers). */
  allowLoopback: boolean;
  /** Targets in private and link-local ranges (10/8, 172.16/12, 192.168/16, fc00::/7, 169.254/16, ...). */
  allowPrivateNetworks: boolean;
}

/** The configuration the service runs with, secrets resolved. */
export interface AppConfig {
  nodeEnv: Environment['NODE_ENV'];
  databaseUrl?: string;
  dataDir: string;
  host: string;
  port: number;
  logLevel: Environment['LOG_LEVEL'];
  jwt: JwtSettings;
  masterKeys: VersionedKey[];
  blindIndexKeys: VersionedKey[];
  pseudonymSecret: Buffer;
  signingKeyPem: string;
  retentionCron: string;
  policiesDir: string;
  webhooks: WebhookSettings;
  shutdownTimeoutMs: number;
  bodyLimitBytes: number;
  /** A connection idle this long, or a request not fully received in twice this, is closed. */
  requestTimeoutMs: number;
  /** Names of the variables whose development values were generated under DATA_DIR. */
  generatedSecrets: string[];
}

const secretsFileName = 'secrets.json';

type DevSecrets = Record<string, string>;

function devSecretGenerators(): Record<string, () => string> {
  return {
    JWT_SECRET: () => randomBytes(48).toString('base64url'),
    MASTER_KEYS: () => `v1:${randomBytes(32).toString('base64')}`,
    BLIND_INDEX_KEYS: () => `v1:${randomBytes(32).toString('base64')}`,
    PSEUDONYM_SECRET: () => randomBytes(32).toString('base64'),
    SIGNING_KEY: () =>
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

function readDevSecrets(file: string): DevSecrets {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DevSecrets;
  } catch {
    throw new ConfigError(`invalid configuration: DATA_DIR: ${file} is not readable JSON`);
  }
}

/**
 * Fills the secrets that are not configured. Production refuses to start without them; development
 * generates them once under DATA_DIR (mode 0600) so a restart finds the same keys and data.
 */
export function resolveAppConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = parseEnvironment(env);
  const hasJwtVerifier = Boolean(parsed.JWT_SECRET || parsed.JWT_JWKS_URL || parsed.JWT_PUBLIC_KEY);
  const required = ['MASTER_KEYS', 'BLIND_INDEX_KEYS', 'PSEUDONYM_SECRET', 'SIGNING_KEY'] as const;
  const missing: string[] = required.filter((name) => parsed[name] === undefined);
  if (!hasJwtVerifier) missing.unshift('JWT_SECRET');

  const generated: string[] = [];
  const values: Record<string, string | undefined> = {};
  const secretsFile = path.join(path.resolve(parsed.DATA_DIR), secretsFileName);
  if (missing.length > 0) {
    if (parsed.NODE_ENV === 'production') {
      throw new ConfigError(`invalid configuration: ${missing[0]}: required when NODE_ENV=production`);
    }
    mkdirSync(path.dirname(secretsFile), { recursive: true });
    const stored = readDevSecrets(secretsFile);
    const generators = devSecretGenerators();
    let changed = false;
    for (const name of missing) {
      if (!stored[name]) {
        stored[name] = generators[name]!();
        changed = true;
      }
      values[name] = stored[name];
      generated.push(name);
    }
    if (changed) writeFileSync(secretsFile, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    chmodSync(secretsFile, 0o600);
  }

  const secretOf = (name: string, configured: string | undefined) => configured ?? values[name];
  // A generated key list comes back from secrets.json, which may have been edited since: checked as
  // strictly as the variable, and reported the same way.
  const keysOf = (name: 'MASTER_KEYS' | 'BLIND_INDEX_KEYS'): VersionedKey[] => {
    if (parsed[name]) return parsed[name];
    const result = versionedKeyListSchema.safeParse(values[name]);
    if (!result.success) {
      throw new ConfigError(
        `invalid configuration: ${name}: ${result.error.issues[0]!.message} (in ${secretsFile})`,
      );
    }
    return result.data;
  };

  return {
    nodeEnv: parsed.NODE_ENV,
    databaseUrl: parsed.DATABASE_URL,
    dataDir: path.resolve(parsed.DATA_DIR),
    host: parsed.HOST,
    port: parsed.PORT,
    logLevel: parsed.LOG_LEVEL,
    jwt: {
      secret: secretOf('JWT_SECRET', parsed.JWT_SECRET),
      jwksUrl: parsed.JWT_JWKS_URL,
      publicKey: parsed.JWT_PUBLIC_KEY?.replaceAll('\\n', '\n'),
      issuer: parsed.JWT_ISSUER,
      audience: parsed.JWT_AUDIENCE,
    },
    masterKeys: keysOf('MASTER_KEYS'),
    blindIndexKeys: keysOf('BLIND_INDEX_KEYS'),
    pseudonymSecret: Buffer.from(secretOf('PSEUDONYM_SECRET', parsed.PSEUDONYM_SECRET)!, 'base64'),
    signingKeyPem: secretOf('SIGNING_KEY', parsed.SIGNING_KEY)!.replaceAll('\\n', '\n'),
    retentionCron: parsed.RETENTION_CRON,
    policiesDir: path.resolve(parsed.POLICIES_DIR),
    webhooks: {
      secrets: parsed.WEBHOOK_SECRETS ?? {},
      allowLoopback: parsed.WEBHOOK_ALLOW_LOOPBACK ?? parsed.NODE_ENV !== 'production',
      allowPrivateNetworks: parsed.WEBHOOK_ALLOW_PRIVATE_NETWORKS ?? false,
    },
    shutdownTimeoutMs: parsed.SHUTDOWN_TIMEOUT_MS,
    bodyLimitBytes: parsed.BODY_LIMIT_BYTES,
    requestTimeoutMs: parsed.REQUEST_TIMEOUT_MS,
    generatedSecrets: generated,
  };
}
