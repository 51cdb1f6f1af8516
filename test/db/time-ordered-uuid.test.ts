import { describe, expect, it } from 'vitest';
import { timeOrderedUuid } from '../../src/db/time-ordered-uuid';

describe('timeOrderedUuid', () => {
  it('is an RFC 9562 version 7 UUID carrying the millisecond it was made', () => {
    const at = Date.UTC(2026, 10, 26, 19, 45, 12, 345);
    const id = timeOrderedUuid(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)).toBe(at);
  });

  it('sorts by time (as text, which is the byte order PostgreSQL sorts uuids in) and differs within one millisecond', () => {
    const start = Date.UTC(2026, 0, 1);
    const ids = [0, 1, 2, 1_000, 86_400_000, 400 * 86_400_000].map((offset) =>
      timeOrderedUuid(start + offset),
    );
    expect([...ids].sort()).toEqual(ids);
    const sameMillisecond = Array.from({ length: 1_000 }, () => timeOrderedUuid(start));
    expect(new Set(sameMillisecond).size).toBe(1_000);
  });
});
