/**
 * @module The runner's watchdogs, as rules: how long a runner may stay silent
 * (outputTimeoutMs) and what a person reads when it did.
 */
import { formatDuration } from './duration.js';

/** A value worth suggesting for outputTimeoutMs (Testflinger's output_timeout is of this order). */
export const SUGGESTED_OUTPUT_TIMEOUT_MS = 15 * 60_000;

/** Whether a runner silent since `lastOutputAt` has been silent too long. */
export function isSilentTooLong(lastOutputAt: number, now: number, outputTimeoutMs: number | undefined): boolean {
  return outputTimeoutMs !== undefined && now - lastOutputAt >= outputTimeoutMs;
}

/** "no output for 15 min since `module boot`" (the last module the runner named, when it named one). */
export function noOutputReason(outputTimeoutMs: number, lastModule: string | undefined): string {
  return `no output for ${formatDuration(outputTimeoutMs)}${lastModule ? ` since \`module ${lastModule}\`` : ''} (outputTimeoutMs); stopped`;
}
