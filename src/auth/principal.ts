/** Who is calling, as established from a verified access token. */
export interface Principal {
  sub: string;
  scopes: string[];
  /** Names the recipient of pseudonymized data; `sub` when the token has no `client_id`. */
  clientId: string;
  /** When set, the caller sees only this merchant's returns. */
  merchantId?: string;
}

export interface VerifiedClaims {
  sub?: unknown;
  scope?: unknown;
  client_id?: unknown;
  merchant_id?: unknown;
}

export function principalFromClaims(claims: VerifiedClaims): Principal | undefined {
  if (typeof claims.sub !== 'string' || claims.sub.length === 0 || claims.sub.length > 256) return undefined;
  const scope = typeof claims.scope === 'string' ? claims.scope : '';
  const clientId = typeof claims.client_id === 'string' && claims.client_id ? claims.client_id : claims.sub;
  const merchantId =
    typeof claims.merchant_id === 'string' && claims.merchant_id ? claims.merchant_id : undefined;
  return { sub: claims.sub, scopes: scope.split(' ').filter(Boolean), clientId, merchantId };
}
