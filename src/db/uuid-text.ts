/** The text form of a UUID given as 32 hex digits. */
export function uuidFromHex(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The uuid `step` (1 or -1) away from `key` in uuid order; null past either end of the uuid space. */
export function uuidBeside(key: string, step: 1n | -1n): string | null {
  const value = BigInt(`0x${key.replaceAll('-', '')}`) + step;
  if (value < 0n || value >= 1n << 128n) return null;
  return uuidFromHex(value.toString(16).padStart(32, '0'));
}
