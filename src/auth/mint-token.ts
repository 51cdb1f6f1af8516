import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { JwtSettings } from '../config/app-config';
import { ConfigError } from '../config/config';
import { type Role, roleScopes } from './scopes';

export interface MintOptions {
  role: Role;
  sub?: string;
  clientId?: string;
  merchantId?: string;
  ttlSeconds?: number;
}

/** Mints an HS256 development token from the same secret the server verifies with. */
export async function mintToken(settings: JwtSettings, options: MintOptions): Promise<string> {
  if (!settings.secret) {
    throw new ConfigError(
      'invalid configuration: JWT_SECRET: needed to mint tokens (tokens come from your identity provider otherwise)',
    );
  }
  const claims: Record<string, unknown> = { scope: roleScopes[options.role].join(' ') };
  if (options.clientId) claims.client_id = options.clientId;
  if (options.merchantId) claims.merchant_id = options.merchantId;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(settings.issuer)
    .setAudience(settings.audience)
    .setSubject(options.sub ?? `${options.role}-dev`)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600))
    .sign(new TextEncoder().encode(settings.secret));
}
