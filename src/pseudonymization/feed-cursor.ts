import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../http/app-error';

/**
 * A position in the feed: the transaction id that last wrote a return and the sequence number of that
 * write. Rows are read in (xid, seq) order, below the oldest running transaction (see feed-reader.ts).
 */
export interface FeedPosition {
  xid: bigint;
  seq: bigint;
}

export const feedStart: FeedPosition = { xid: 0n, seq: 0n };

const cursorVersion = 1;
const bodyLength = 17; // version byte, xid, seq
const tagLength = 16;
const cursorPattern = /^[A-Za-z0-9_-]{1,100}$/;

function tagOf(key: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', key).update(body).digest().subarray(0, tagLength);
}

/** Opaque to the recipient; the tag (keyed per recipient) makes an edited or borrowed cursor fail. */
export function encodeCursor(position: FeedPosition, key: Buffer): string {
  const body = Buffer.alloc(bodyLength);
  body.writeUInt8(cursorVersion, 0);
  body.writeBigUInt64BE(position.xid, 1);
  body.writeBigUInt64BE(position.seq, 9);
  return Buffer.concat([body, tagOf(key, body)]).toString('base64url');
}

export function decodeCursor(cursor: string, key: Buffer): FeedPosition {
  const invalid = () => new AppError('invalid_cursor', 'Send back a cursor exactly as the feed returned it.');
  if (!cursorPattern.test(cursor)) throw invalid();
  const raw = Buffer.from(cursor, 'base64url');
  if (raw.length !== bodyLength + tagLength || raw.toString('base64url') !== cursor) throw invalid();
  const body = raw.subarray(0, bodyLength);
  if (body.readUInt8(0) !== cursorVersion || !timingSafeEqual(raw.subarray(bodyLength), tagOf(key, body))) {
    throw invalid();
  }
  return { xid: body.readBigUInt64BE(1), seq: body.readBigUInt64BE(9) };
}
