import type { Scope } from '../../src/auth/scopes';

/**
 * The access matrix as data: the scopes each protected operation needs, written from CONTRACT.md
 * rather than read from the code, so a route that drifts from the contract fails the matrix test.
 * Every operation of the OpenAPI document under /v1 must appear here.
 */
export const routeScopes: Record<string, readonly Scope[]> = {
  'GET /v1/me': [],
  'POST /v1/returns': ['returns:write'],
  'GET /v1/returns': ['returns:read'],
  'GET /v1/returns/{id}': ['returns:read'],
  'POST /v1/returns/{id}/events': ['returns:write'],
  'GET /v1/pseudonymized/returns': ['pseudo:read'],
  'POST /v1/subject-requests': ['dsr:manage'],
  'GET /v1/subject-requests': ['dsr:manage'],
  'GET /v1/subject-requests/{id}': ['dsr:manage'],
  'POST /v1/subject-requests/{id}/verify': ['dsr:manage'],
  'POST /v1/subject-requests/{id}/extend': ['dsr:manage'],
  'POST /v1/subject-requests/{id}/execute': ['dsr:manage'],
  'POST /v1/subject-requests/{id}/reject': ['dsr:manage'],
  'GET /v1/subject-requests/{id}/package': ['dsr:manage'],
  'POST /v1/subject-requests/{id}/lift-restriction': ['dsr:manage'],
  'GET /v1/legal-holds': ['dsr:manage'],
  'POST /v1/legal-holds': ['dsr:manage'],
  'GET /v1/ropa': ['dsr:manage'],
  'DELETE /v1/legal-holds/{id}': ['dsr:manage'],
  'GET /v1/retention/policies': ['retention:manage'],
  'GET /v1/retention/preview': ['retention:manage'],
  'POST /v1/retention/run': ['retention:manage'],
  'GET /v1/retention/runs': ['retention:manage'],
  'GET /v1/audit/events': ['audit:read'],
  'GET /v1/audit/checkpoint': ['audit:read'],
  'GET /v1/audit/export': ['audit:read'],
  'GET /v1/audit/proofs/inclusion': ['audit:read'],
  'GET /v1/audit/proofs/consistency': ['audit:read'],
  'POST /v1/keys/rotate': ['keys:manage'],
  'GET /v1/keys': ['keys:manage'],
  'GET /v1/webhooks/deliveries': ['webhooks:manage'],
  'POST /v1/webhooks/deliveries/{id}/replay': ['webhooks:manage'],
};

/**
 * Operations that act across every merchant and so refuse a token limited to one (`merchant_id`): a
 * subject, a retention run, the audit chain and the keys are not any one merchant's.
 */
export const controllerWideRoutes: ReadonlySet<string> = new Set(
  Object.keys(routeScopes).filter((key) =>
    /^\w+ \/v1\/(subject-requests|legal-holds|retention|audit|keys)\b/.test(key),
  ),
);
