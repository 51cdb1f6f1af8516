/** Every scope a token can carry (CONTRACT.md section 1). */
export const scopes = [
  'returns:write',
  'returns:read',
  'pseudo:read',
  'dsr:manage',
  'retention:manage',
  'audit:read',
  'keys:manage',
  'webhooks:manage',
] as const;

export type Scope = (typeof scopes)[number];

/** The scopes a development token gets for each role of `returnvault token --role`. */
export const roleScopes = {
  merchant: ['returns:write'],
  support: ['returns:read', 'returns:write'],
  carrier: ['returns:write'],
  backend: ['pseudo:read'],
  dpo: ['dsr:manage', 'retention:manage', 'returns:read'],
  auditor: ['audit:read'],
  admin: [...scopes],
} as const satisfies Record<string, readonly Scope[]>;

export type Role = keyof typeof roleScopes;
export const roles = Object.keys(roleScopes) as Role[];
