/**
 * Temporal's connection pools against PostgreSQL's max_connections: four services, each
 * with a store and a visibility pool, within what the others leave.
 */
import { describe, expect, it } from 'vitest';
import { temporalPoolSizes } from '../helpers/temporal-server.js';

describe('temporalPoolSizes', () => {
  it('keeps the defaults (20 and 10 per service) where they fit', () => {
    expect(temporalPoolSizes(400, 27)).toEqual({ maxConns: 20, visMaxConns: 10, total: 120 });
  });

  it("shrinks them under PostgreSQL's default of 100, where the defaults (120) alone would not fit", () => {
    const pools = temporalPoolSizes(100, 27);
    expect(pools).toEqual({ maxConns: 12, visMaxConns: 6, total: 72 });
    expect(pools.total + 27).toBeLessThanOrEqual(100);
  });

  it('refuses a max_connections that leaves too little', () => {
    expect(() => temporalPoolSizes(30, 27)).toThrow(/max_connections=30 leaves 3 connections/);
  });
});
