/**
 * @module Durations as people write them (`90s`, `30m`, `2h`, `1d`, `500ms`, or plain
 * milliseconds) and as Testbay prints them (`15 min`, `2 h 30 min`): one parser for every
 * CLI flag and spec field that takes one, one formatter for every reason text.
 */

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

export type DurationParse = { ok: true; ms: number } | { ok: false; message: string };

/** `30m` → 1800000; a message naming what was expected otherwise. */
export function parseDuration(text: string): DurationParse {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?$/.exec(text.trim());
  const ms = m ? Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!) : NaN;
  if (!m || !Number.isFinite(ms))
    return { ok: false, message: `a duration like 90s, 30m or 2h (or milliseconds), not "${text}"` };
  return { ok: true, ms };
}

/** 900000 → `15 min`, 5400000 → `1 h 30 min`, 1500 → `1.5 s`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10} s`;
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? `${hours} h` : `${hours} h ${rest} min`;
}
