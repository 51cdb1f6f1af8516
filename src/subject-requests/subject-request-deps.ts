import type { EmailBlindIndex } from '../crypto/blind-index';
import type { MasterKeyring } from '../crypto/master-keyring';
import type { Database } from '../db/database';
import type { PseudonymsOf } from '../erasure/recipient-notices';
import type { Policies } from '../policies/load-policies';
import type { Signer } from '../signing/signing-key';

/** What the subject-request logic needs from the app; routes build it from the app's decorators. */
export interface SubjectRequestDeps {
  db: Database;
  emailIndex: EmailBlindIndex;
  keyring: MasterKeyring;
  policies: Policies;
  signer: Signer;
  pseudonymsOf: PseudonymsOf;
}
