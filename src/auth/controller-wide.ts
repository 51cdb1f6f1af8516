import type { FastifyRequest } from 'fastify';
import { AppError } from '../http/app-error';
import { principalOf, recordAuthDenial } from './auth-plugin';

/**
 * Subject requests, legal holds, retention, the audit log and the keys act across every merchant (one
 * subject has one set of keys whatever the merchant; a retention run and a key rotation cover every
 * return; the audit log is one chain). A token limited to one merchant (`merchant_id`) could otherwise
 * read, erase or rewrap another merchant's data, so these routes refuse it.
 */
export async function rejectMerchantScopedTokens(request: FastifyRequest): Promise<void> {
  const principal = principalOf(request);
  if (principal.merchantId !== undefined) {
    await recordAuthDenial(request, { reason: 'merchant_scoped_token' }, principal);
    throw new AppError('forbidden', 'This operation is controller-wide; use a token without merchant_id.');
  }
}
