import type { Principal } from '../auth/principal';
import { AppError } from '../http/app-error';
import type { Recipient } from '../policies/recipients-policy';

/**
 * The recipient is who the token says the caller is (`client_id`, else `sub`), never a parameter: a
 * caller cannot ask for another recipient's pseudonyms or fields.
 */
export function recipientOf(recipients: readonly Recipient[], principal: Principal): Recipient {
  const recipient = recipients.find((candidate) => candidate.id === principal.clientId);
  if (!recipient) {
    throw new AppError(
      'forbidden',
      'The token does not name a recipient declared in policies/recipients.yaml.',
    );
  }
  return recipient;
}
