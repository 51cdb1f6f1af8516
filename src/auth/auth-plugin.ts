import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { recordAuditEvent } from '../audit/record-audit-event';
import type { JwtSettings } from '../config/app-config';
import { AppError } from '../http/app-error';
import { AnonymousDenialBudget } from './denial-budget';
import { type Principal, principalFromClaims, type VerifiedClaims } from './principal';
import type { Scope } from './scopes';
import { createVerificationKeys, KeySourceUnavailableError } from './verification-keys';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scopes the caller needs, all of them; `[]` means any valid token. Routes without it are public. */
    scopes?: readonly Scope[];
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** The principal of an authenticated route; routes that declare scopes always have one. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError('unauthorized', 'This route needs an access token.');
  return request.principal;
}

/** Records a refused request as an `auth.denied` audit event; a failure to record it is logged. */
export async function recordAuthDenial(
  request: FastifyRequest,
  details: Record<string, unknown>,
  principal?: Principal,
): Promise<void> {
  await recordAuditEvent(
    request.server.database.db,
    { principal, requestId: request.id },
    {
      action: 'auth.denied',
      outcome: 'denied',
      targetType: 'route',
      targetId: `${request.method} ${request.routeOptions.url ?? ''}`,
      details,
    },
  ).catch((error) => request.log.error({ err: error }, 'could not record an access denial'));
}

async function recordDenial(
  budget: AnonymousDenialBudget,
  request: FastifyRequest,
  reason: string,
  principal?: Principal,
) {
  let details: Record<string, unknown> = { reason };
  if (!principal) {
    const { write, suppressedBefore, suppressionBegins } = budget.take();
    if (suppressionBegins) {
      request.log.warn(
        { perWindow: budget.perWindow, windowMs: budget.windowMs },
        'refusals of requests without a valid token are over budget: counted, not written one by one',
      );
    }
    if (!write) return;
    if (suppressedBefore > 0) details = { ...details, suppressedBefore };
  }
  await recordAuthDenial(request, details, principal);
}

/**
 * Verifies bearer tokens and enforces the scopes each route declares, so handlers never check scopes
 * by hand. Algorithms, issuer, audience and required claims are pinned.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, settings: JwtSettings) => {
    const keys = createVerificationKeys(settings);
    const denialBudget = new AnonymousDenialBudget();
    await app.register(fastifyJwt, {
      secret: (_request: FastifyRequest, token: { header: { alg?: unknown; kid?: unknown } }) =>
        keys.keyFor(token.header),
      verify: {
        algorithms: keys.algorithms as never,
        allowedIss: settings.issuer,
        allowedAud: settings.audience,
        requiredClaims: ['iss', 'aud', 'sub', 'exp'],
        // fast-jwt counts in milliseconds: tolerate small clock drift between issuer and service.
        clockTolerance: 5000,
        // Services call with the same token many times: verifying its signature once per minute, not
        // per request, took about 3 % of the CPU of a read. An entry ends by `exp` plus the clock
        // tolerance, when verification itself would refuse the token; a refusal is kept for that
        // tolerance (fast-jwt's least error TTL), so a token refused for `nbf` stays refused 5 s.
        cache: 1000,
        cacheTTL: 60_000,
      },
      // The key resolver needs the header (alg, kid), so decoding keeps it.
      decode: { complete: true },
    } as never);

    app.addHook('onRoute', (route) => {
      if (route.url.startsWith('/v1/') && route.config?.scopes === undefined) {
        throw new Error(`route ${route.method} ${route.url} must declare config.scopes`);
      }
    });

    app.addHook('onRequest', async (request) => {
      const required = request.routeOptions.config.scopes;
      if (required === undefined) return;
      const header = request.headers.authorization;
      // The scheme name is case-insensitive (RFC 9110, 11.1).
      if (!header || !/^bearer [A-Za-z0-9._~+/=-]+$/i.test(header)) {
        await recordDenial(denialBudget, request, 'missing_token');
        throw new AppError('unauthorized', 'Send a bearer access token in the Authorization header.');
      }
      let principal: Principal | undefined;
      try {
        principal = principalFromClaims((await request.jwtVerify()) as VerifiedClaims);
      } catch (error) {
        // What the key resolver threw arrives as it is, or wrapped by fast-jwt as `originalError`.
        const cause = (error as { originalError?: unknown }).originalError ?? error;
        if (cause instanceof KeySourceUnavailableError) {
          throw new AppError(
            'auth_keys_unavailable',
            "The identity provider's signing keys could not be fetched; retry shortly.",
          );
        }
        principal = undefined;
      }
      if (!principal) {
        await recordDenial(denialBudget, request, 'invalid_token');
        throw new AppError(
          'unauthorized',
          'The access token is invalid, expired or not meant for this service.',
        );
      }
      const missing = required.filter((scope) => !principal.scopes.includes(scope));
      if (missing.length > 0) {
        await recordDenial(denialBudget, request, 'missing_scope', principal);
        throw new AppError('forbidden', `The token lacks the scope(s): ${missing.join(', ')}.`, {
          requiredScopes: required,
        });
      }
      request.principal = principal;
    });
  },
  { name: 'auth' },
);
