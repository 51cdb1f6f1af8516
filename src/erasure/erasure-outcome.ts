/** Classes of data the erasure answer talks about (DOMAIN.md retention table). */
export type ErasureDataClass = 'contact' | 'payment' | 'accounting' | 'proof' | 'requests';

/** What an erasure made unrecoverable: ids and counts only, never a value. */
export interface ErasedData {
  dataClass: 'contact' | 'payment' | 'proof';
  /** Returns whose columns of this class were nulled by this erasure. */
  returns: number;
  /** No key of this class remains for the subject (crypto-shredding); false while some data is kept. */
  keyDestroyed: boolean;
  /** contact only: the keyed e-mail index went with the key; the e-mail no longer finds the subject. */
  emailIndexRemoved?: boolean;
}

/** What an erasure did not touch, why, on which legal basis and until when (Art. 17(3)). */
export interface KeptData {
  dataClass: ErasureDataClass;
  reason: 'legal_hold' | 'retention_running' | 'legal_obligation';
  legalBasis: string;
  /** ISO date until which it is kept at the latest; null while a hold has no end date. */
  until: string | null;
  /** Returns concerned, when the data belongs to returns. */
  returns?: number;
}

export interface ErasureOutcome {
  erased: ErasedData[];
  kept: KeptData[];
}
