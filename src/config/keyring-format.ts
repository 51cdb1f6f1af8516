import { z } from 'zod';

/** A versioned key list such as `v1:<base64 32 bytes>,v2:<...>`; the last entry is the active one. */
export interface VersionedKey {
  version: string;
  key: Buffer;
}

const entryPattern = /^(v\d{1,6}):([A-Za-z0-9+/_-]+=*)$/;

export const versionedKeyListSchema = z.string().transform((raw, ctx): VersionedKey[] => {
  const entries = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'expected "v1:<base64 of 32 bytes>[,v2:...]"' });
    return z.NEVER;
  }
  const keys: VersionedKey[] = [];
  for (const [index, entry] of entries.entries()) {
    const match = entryPattern.exec(entry);
    const key = match ? Buffer.from(match[2]!, 'base64') : undefined;
    if (!match || !key || key.length !== 32) {
      ctx.addIssue({ code: 'custom', message: `entry ${index + 1} is not "v<N>:<base64 of 32 bytes>"` });
      return z.NEVER;
    }
    if (keys.some((k) => k.version === match[1])) {
      ctx.addIssue({ code: 'custom', message: `version ${match[1]} appears twice` });
      return z.NEVER;
    }
    keys.push({ version: match[1]!, key });
  }
  return keys;
});
