export interface Parcel {
  weightGrams: number;
  lengthMm: number;
  widthMm: number;
  heightMm: number;
}

export interface LetterboxLimits {
  maxDimensionsMm: readonly [number, number, number];
  maxWeightGrams: number;
}

export type LetterboxRefusal = 'parcel_too_large_for_letterbox' | 'parcel_too_heavy_for_letterbox';

const ascending = (values: readonly number[]) => [...values].sort((a, b) => a - b);

/**
 * A box fits another in some axis-aligned orientation exactly when its sorted sides are each no longer
 * than the sorted sides of the other, so no orientation has to be enumerated.
 */
export function fitsInside(parcel: Parcel, inside: readonly [number, number, number]): boolean {
  const sides = ascending([parcel.lengthMm, parcel.widthMm, parcel.heightMm]);
  const limits = ascending(inside);
  return sides.every((side, index) => side <= limits[index]!);
}

/** Why a parcel cannot be collected from a letterbox; empty when it can. */
export function letterboxRefusals(parcel: Parcel, limits: LetterboxLimits): LetterboxRefusal[] {
  const refusals: LetterboxRefusal[] = [];
  if (!fitsInside(parcel, limits.maxDimensionsMm)) refusals.push('parcel_too_large_for_letterbox');
  if (parcel.weightGrams > limits.maxWeightGrams) refusals.push('parcel_too_heavy_for_letterbox');
  return refusals;
}
