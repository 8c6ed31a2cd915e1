/**
 * @module What a sealed value looks like, for the domain to tell one from plain text
 * without the key (src/sealing.ts seals and opens them).
 */
export const SEALED_PREFIX = 'sealed:v1:';

export const isSealed = (value: string): boolean => value.startsWith(SEALED_PREFIX);
