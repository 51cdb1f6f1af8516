import { z } from 'zod';

/** A key a message may name: anything else (an e-mail sent as a key, say) could be personal data. */
export const nameableKey = /^[A-Za-z0-9_]{1,64}$/;

/** Names the unknown keys that look like field names; the others are only counted. */
function unrecognizedKeysMessage(keys: readonly PropertyKey[]): string {
  const named = keys.filter((key) => typeof key === 'string' && nameableKey.test(key));
  const unnamed = keys.length - named.length;
  const parts = [
    ...(named.length > 0
      ? [
          `Unrecognized key${named.length > 1 ? 's' : ''}: ${named.map((key) => `"${String(key)}"`).join(', ')}`,
        ]
      : []),
    ...(unnamed > 0 ? [unnamed === 1 ? 'unknown field' : `${unnamed} unknown fields`] : []),
  ];
  return parts.join(' and ');
}

/*
 * Zod's wording for a value that is missing is "Invalid input: expected string, received undefined";
 * a problem+json answer says "is required" instead. Zod's own message for unknown keys quotes them
 * all. Zod's configuration is per process: this module sets it when the app module is loaded
 * (src/app.ts imports it).
 */
z.config({
  customError: (issue) => {
    if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
    if (issue.code === 'unrecognized_keys') return unrecognizedKeysMessage(issue.keys);
    return undefined;
  },
});
