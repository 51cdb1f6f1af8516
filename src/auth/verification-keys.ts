import { createPublicKey, KeyObject } from 'node:crypto';
import { createRemoteJWKSet } from 'jose';
import type { JwtSettings } from '../config/app-config';
import { ConfigError } from '../config/config';

type AsymmetricAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

/**
 * Resolves the key for a token header. Each algorithm maps to exactly one key source, so a token
 * signed HS256 with a public key as its secret (algorithm confusion) never meets that public key.
 */
export interface VerificationKeys {
  algorithms: string[];
  keyFor(header: { alg?: unknown; kid?: unknown }): Promise<string>;
}

function algorithmForKey(key: KeyObject): AsymmetricAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ec':
      if (key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
      break;
    case 'ed25519':
      return 'EdDSA';
  }
  throw new ConfigError(
    'invalid configuration: JWT_PUBLIC_KEY: expected an RSA, P-256 or Ed25519 public key',
  );
}

function parsePublicKey(text: string): KeyObject {
  try {
    const trimmed = text.trim();
    return trimmed.startsWith('{')
      ? createPublicKey({ key: JSON.parse(trimmed), format: 'jwk' })
      : createPublicKey(trimmed);
  } catch {
    throw new ConfigError('invalid configuration: JWT_PUBLIC_KEY: not a PEM or JWK public key');
  }
}

export class TokenKeyError extends Error {}

/**
 * The identity provider's key set could not be fetched (down, slow, or answering no key set): the
 * token may be good, so the caller is told to retry (503), not that its token is refused.
 */
export class KeySourceUnavailableError extends Error {
  override name = 'KeySourceUnavailableError';
}

/** jose's answers about the token's own key: the key set was read, and it does not name this one. */
const tokenKeyCodes = new Set(['ERR_JWKS_NO_MATCHING_KEY', 'ERR_JWKS_MULTIPLE_MATCHING_KEYS']);

export function createVerificationKeys(settings: JwtSettings): VerificationKeys {
  const byAlgorithm = new Map<string, (kid: string | undefined) => Promise<string>>();
  if (settings.secret) {
    const secret = settings.secret;
    byAlgorithm.set('HS256', async () => secret);
  }
  if (settings.publicKey) {
    const key = parsePublicKey(settings.publicKey);
    const pem = key.export({ format: 'pem', type: 'spki' }).toString();
    byAlgorithm.set(algorithmForKey(key), async () => pem);
  }
  if (settings.jwksUrl) {
    const jwks = createRemoteJWKSet(new URL(settings.jwksUrl), {
      timeoutDuration: 5000,
      cooldownDuration: 30_000,
    });
    for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
      byAlgorithm.set(alg, async (kid) => {
        const key = await jwks({ alg, kid }).catch((error: { code?: unknown }) => {
          if (typeof error?.code === 'string' && tokenKeyCodes.has(error.code)) throw error;
          throw new KeySourceUnavailableError('the key set at JWT_JWKS_URL could not be fetched');
        });
        const keyObject =
          key instanceof KeyObject ? key : KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
        return keyObject.export({ format: 'pem', type: 'spki' }).toString();
      });
    }
  }
  return {
    algorithms: [...byAlgorithm.keys()],
    async keyFor(header) {
      const resolve = typeof header.alg === 'string' ? byAlgorithm.get(header.alg) : undefined;
      if (!resolve) throw new TokenKeyError('algorithm not accepted');
      if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > 128)) {
        throw new TokenKeyError('key id not accepted');
      }
      return resolve(header.kid as string | undefined);
    },
  };
}
