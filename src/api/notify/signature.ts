/**
 * @module Signing deliveries the way GitHub signs webhooks: `X-Testbay-Signature:
 * sha256=<hex HMAC-SHA256 of the body with the subscription's secret>`. Receivers
 * recompute it over the raw body and compare in constant time (see verifySignature).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-testbay-signature';

export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What a receiver does: true when `header` is the body's signature under `secret`. */
export function verifySignature(secret: string, body: string | Buffer, header: string | undefined): boolean {
  if (!header) return false;
  const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A new subscription's secret: 32 random bytes, shown once. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

/** Ids of subscriptions and deliveries: time-sortable, lowercase, URL-safe. */
export function newNotifyId(prefix: 'w' | 'd'): string {
  const random = [...randomBytes(6)].map((b) => (b % 36).toString(36)).join('');
  return `${prefix}${Date.now().toString(36)}${random}`;
}
