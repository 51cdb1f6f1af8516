import { Buffer } from 'node:buffer';

/**
 * Concatenates parts each preceded by its byte length (uint32 big-endian), so no two different part
 * lists encode to the same bytes ("ab"+"c" differs from "a"+"bc").
 */
export function lengthPrefixed(parts: readonly (string | Buffer)[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const bytes = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  }
  return Buffer.concat(chunks);
}
