import type { DataClass } from '../crypto/data-classes';
import { AppError } from '../http/app-error';
import type { DataState, Purpose } from '../policies/purposes-policy';

/** The X-Purpose header checked against policies/purposes.yaml: 400 when missing or undeclared. */
export function resolvePurpose(purposes: readonly Purpose[], header: string | undefined): Purpose {
  const id = header?.trim();
  if (!id) throw new AppError('purpose_required', 'Name the purpose of this read in the X-Purpose header.');
  const purpose = purposes.find((candidate) => candidate.id === id);
  if (!purpose) {
    throw new AppError('purpose_unknown', 'The X-Purpose header names no purpose declared in the policies.', {
      declaredPurposes: purposes.map((candidate) => candidate.id),
    });
  }
  return purpose;
}

export function purposeAllowsState(purpose: Purpose, state: DataState): boolean {
  return purpose.allowedStates.includes(state);
}

const personalCategories = ['contact', 'payment', 'proof'] as const;

/**
 * What a purpose may decrypt (purpose limitation, GDPR Art. 5(1)(b)): the classes of the return's
 * fields, and whether tracking details (proof category, stored under the contact key) are shown.
 */
export function readableData(purpose: Purpose): {
  returnClasses: ReadonlySet<DataClass>;
  eventClasses: ReadonlySet<DataClass>;
  withheld: string[];
} {
  const has = (category: string) => purpose.dataCategories.includes(category);
  const returnClasses = new Set<DataClass>();
  if (has('contact')) returnClasses.add('contact');
  if (has('payment')) returnClasses.add('payment');
  const eventClasses = new Set<DataClass>(has('proof') ? ['contact'] : []);
  return { returnClasses, eventClasses, withheld: personalCategories.filter((category) => !has(category)) };
}
