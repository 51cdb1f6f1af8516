import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mapCarrierCode } from '../../src/returns/carrier-codes';
import { fitsInside, letterboxRefusals } from '../../src/returns/letterbox';

const limits = { maxDimensionsMm: [260, 260, 340] as const, maxWeightGrams: 30_000 };

describe('letterbox fit', () => {
  it('accepts a parcel that fits in some orientation and refuses one that fits in none', () => {
    expect(
      letterboxRefusals({ lengthMm: 340, widthMm: 200, heightMm: 250, weightGrams: 1000 }, limits),
    ).toEqual([]);
    expect(
      letterboxRefusals({ lengthMm: 250, widthMm: 340, heightMm: 260, weightGrams: 1000 }, limits),
    ).toEqual([]);
    expect(
      letterboxRefusals({ lengthMm: 341, widthMm: 10, heightMm: 10, weightGrams: 1000 }, limits),
    ).toEqual(['parcel_too_large_for_letterbox']);
    // Two sides of 300 mm cannot both lie along the single 340 mm side.
    expect(
      letterboxRefusals({ lengthMm: 300, widthMm: 300, heightMm: 10, weightGrams: 1000 }, limits),
    ).toEqual(['parcel_too_large_for_letterbox']);
  });

  it('refuses a parcel over the weight cap and accepts one at the cap', () => {
    expect(
      letterboxRefusals({ lengthMm: 100, widthMm: 100, heightMm: 100, weightGrams: 30_001 }, limits),
    ).toEqual(['parcel_too_heavy_for_letterbox']);
    expect(
      letterboxRefusals({ lengthMm: 100, widthMm: 100, heightMm: 100, weightGrams: 30_000 }, limits),
    ).toEqual([]);
  });

  it('agrees with trying every orientation, and does not depend on the order of the sides', () => {
    const side = fc.integer({ min: 1, max: 500 });
    fc.assert(
      fc.property(side, side, side, (a, b, c) => {
        const orientations = [
          [a, b, c],
          [a, c, b],
          [b, a, c],
          [b, c, a],
          [c, a, b],
          [c, b, a],
        ];
        const bruteForce = orientations.some(([x, y, z]) => x! <= 260 && y! <= 260 && z! <= 340);
        for (const [x, y, z] of orientations) {
          expect(
            fitsInside({ lengthMm: x!, widthMm: y!, heightMm: z!, weightGrams: 1 }, limits.maxDimensionsMm),
          ).toBe(bruteForce);
        }
      }),
    );
  });
});

describe('carrier codes', () => {
  it('maps Colissimo and La Poste codes to normalised events', () => {
    expect(mapCarrierCode('EMLCFM').type).toBe('pickup_scheduled');
    expect(mapCarrierCode('ECHCFM')).toMatchObject({ type: 'dispatched', known: true });
    for (const code of ['ENEMQT', 'ENEDAF', 'ENEAVA', 'ENENCF', 'ENEDOC']) {
      expect(mapCarrierCode(code).type).toBe('pickup_failed');
    }
    expect(
      new Set(['ENEMQT', 'ENEDAF', 'ENEAVA', 'ENENCF', 'ENEDOC'].map((c) => mapCarrierCode(c).reason)).size,
    ).toBe(5);
    expect(mapCarrierCode('DEP').type).toBe('dispatched');
    expect(mapCarrierCode('DEPGUI').type).toBe('dispatched');
    // Digits after the prefix (a phone number) are no deposit code: an anomaly, never announced.
    expect(mapCarrierCode('DEP0612345678')).toMatchObject({ type: 'anomaly', known: false });
    expect(mapCarrierCode('DEPOSITEDATTHEPOSTOFFICE').known).toBe(false);
    expect(mapCarrierCode('PC1').type).toBe('dispatched');
    for (const code of ['ET1', 'ET2', 'ET3', 'ET4']) expect(mapCarrierCode(code).type).toBe('in_transit');
    expect(mapCarrierCode('DI1').type).toBe('received');
    expect(mapCarrierCode('di1').type).toBe('received');
    expect(mapCarrierCode('DI2')).toMatchObject({ type: 'anomaly', known: true });
    expect(mapCarrierCode('RE1')).toMatchObject({ type: 'anomaly', known: true });
  });

  it('keeps unknown codes as anomalies', () => {
    expect(mapCarrierCode('ZZZ9')).toEqual({ type: 'anomaly', reason: 'unknown_carrier_code', known: false });
    expect(mapCarrierCode('ET5')).toMatchObject({ type: 'anomaly', known: false });
  });
});
