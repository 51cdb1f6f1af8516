import type { FastifyRequest } from 'fastify';
import { principalOf } from '../auth/auth-plugin';
import { AppError } from '../http/app-error';

/**
 * Subject requests and legal holds act on a data subject across every merchant (one subject, one set
 * of keys): a token limited to one merchant (`merchant_id`) could otherwise erase or read another
 * merchant's data. Such tokens are refused on these routes.
 */
export async function rejectMerchantScopedTokens(request: FastifyRequest): Promise<void> {
  if (principalOf(request).merchantId !== undefined) {
    throw new AppError(
      'forbidden',
      'Subject requests and legal holds are controller-wide; use a token without merchant_id.',
    );
  }
}
