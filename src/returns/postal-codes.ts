/**
 * Postal code formats of the countries most returns come from; others get a loose generic check.
 * Codes are compared upper-case with surrounding spaces removed.
 */
const postalCodePatterns: Record<string, RegExp> = {
  FR: /^(?:0[1-9]|[1-8]\d|9[0-8])\d{3}$/,
  BE: /^[1-9]\d{3}$/,
  DE: /^(?!00)\d{5}$/,
  ES: /^(?:0[1-9]|[1-4]\d|5[0-2])\d{3}$/,
  IT: /^\d{5}$/,
  NL: /^[1-9]\d{3} ?[A-Z]{2}$/,
  LU: /^(?:L-)?\d{4}$/,
  PT: /^[1-9]\d{3}-\d{3}$/,
  AT: /^[1-9]\d{3}$/,
  IE: /^(?:[AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}$/,
};

const genericPostalCode = /^[A-Z0-9](?:[A-Z0-9 -]{0,8}[A-Z0-9])?$/;

export function normalisePostalCode(code: string): string {
  return code.trim().toUpperCase();
}

export function isValidPostalCode(country: string, code: string): boolean {
  // Own keys only: a country such as "valueOf" must not reach Object.prototype.
  const pattern = Object.hasOwn(postalCodePatterns, country) ? postalCodePatterns[country] : undefined;
  return (pattern ?? genericPostalCode).test(normalisePostalCode(code));
}

/**
 * The coarse area kept in clear for the pseudonymized feed: the French département (first two digits),
 * the Irish routing key, or the first two characters elsewhere. Never precise enough to locate a home.
 */
export function postalArea(country: string, code: string): string {
  const normalised = normalisePostalCode(code).replace(/^L-/, '');
  return normalised.slice(0, country === 'IE' ? 3 : 2);
}
