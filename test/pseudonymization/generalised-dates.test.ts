import { beforeAll, describe, expect, it } from 'vitest';
import type { DateGeneralisation } from '../../src/policies/recipients-policy';
import { generalisedParisDate } from '../../src/pseudonymization/generalised-dates';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** What PostgreSQL's to_char in the Paris time zone says, the reference the feed used to call. */
const referenceFormats: Record<DateGeneralisation, string> = {
  day: 'YYYY-MM-DD',
  week: 'IYYY-"W"IW',
  month: 'YYYY-MM',
};

/** Instants where a generalised date is easy to get wrong, and random ones from 1990 to 2060. */
function instants(): Date[] {
  const edges: Date[] = [];
  for (let year = 1996; year <= 2040; year += 1) {
    for (const month of [2, 9]) {
      // Last Sunday of March and of October: the clocks change at 01:00 UTC.
      const lastDay = new Date(Date.UTC(year, month + 1, 0));
      const sunday = Date.UTC(year, month, lastDay.getUTCDate() - lastDay.getUTCDay(), 1);
      for (const offsetMs of [-3_600_001, -1, 0, 1, 3_600_000]) edges.push(new Date(sunday + offsetMs));
    }
    // Around midnight in Paris (22:00 or 23:00 UTC) at the turn of the year: ISO weeks 52, 53 and 1.
    for (const day of [27, 28, 29, 30, 31]) {
      for (const hour of [21, 22, 23]) {
        for (const offsetMs of [-1, 0, 1]) edges.push(new Date(Date.UTC(year, 11, day, hour) + offsetMs));
      }
    }
  }
  const from = Date.UTC(1990, 0, 1);
  const to = Date.UTC(2060, 0, 1);
  const random = Array.from({ length: 3_000 }, () => new Date(from + Math.random() * (to - from)));
  return [...edges, ...random];
}

describe('generalised dates of the pseudonymized feed', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  it.each(['day', 'week', 'month'] as const)(
    'match to_char in the Paris time zone (%s)',
    async (generalisation) => {
      const { sql } = database;
      const all = instants();
      const rows = await sql<{ hour: number; expected: string }[]>`
      select floor(date_part('epoch', t) / 3600)::int4 as hour,
        to_char(t at time zone 'Europe/Paris', ${referenceFormats[generalisation]}) as expected
      from unnest(string_to_array(${all.map((instant) => instant.toISOString()).join(',')}, ',')::timestamptz[]) with ordinality as i(t, n)
      order by n`;
      const wrong = rows.filter((row) => generalisedParisDate(generalisation, row.hour) !== row.expected);
      expect(wrong).toEqual([]);
      expect(rows).toHaveLength(all.length);
    },
  );
});
