/**
 * @module The one comparison of lease tokens: constant time, so how long a refusal takes
 * says nothing about how much of a guessed token was right.
 */
import { timingSafeEqual } from 'node:crypto';

export function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
