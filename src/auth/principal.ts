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

const isName = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= 256;

/**
 * The principal of verified claims, or undefined when they cannot make one (the token is then refused
 * with 401). A `merchant_id` or `client_id` that is present must be a non-empty string: read as
 * absent, a number, an array, an empty string or null would make a merchant's token controller-wide.
 */
export function principalFromClaims(claims: VerifiedClaims): Principal | undefined {
  if (!isName(claims.sub)) return undefined;
  if (claims.merchant_id !== undefined && !isName(claims.merchant_id)) return undefined;
  if (claims.client_id !== undefined && !isName(claims.client_id)) return undefined;
  const scope = typeof claims.scope === 'string' ? claims.scope : '';
  return {
    sub: claims.sub,
    scopes: scope.split(' ').filter(Boolean),
    clientId: claims.client_id ?? claims.sub,
    merchantId: claims.merchant_id,
  };
}
