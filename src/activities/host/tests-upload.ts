/**
 * @module Per-test results sized for one upload. The API takes a job's tests as one JSON
 * body of at most 32 MiB; 4,000 tests with 9 kB messages would be refused and the job
 * aborted. So before an upload the messages are shortened, all to the same length, until
 * the body fits a budget under that limit, each cut one saying so. Only when the names
 * alone do not fit are the results too large.
 */
import type { TestCaseResult } from '../../api/store/result-store.js';
import { ResultsTooLargeError } from './junit.js';

/** Under the API's 32 MiB limit for `PUT /jobs/:id/tests`, with room to spare. */
export const TESTS_UPLOAD_BUDGET_BYTES = 24 * 1024 ** 2;

const marker = (kept: number, of: number) =>
  ` … [cut by testbay: ${kept} of ${of} characters kept so the results fit one upload]`;

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** `,"message":` (or `"message":` and a comma): what a message adds to its test's JSON besides its own. */
const MESSAGE_KEY_BYTES = 11;

/**
 * Gives the event loop a turn after every MiB of JSON measured: 36 MB of tests take about
 * a second to measure, and a host that blocks that long under load misses its heartbeats.
 */
function pacer(pause: () => Promise<void>) {
  let since = 0;
  return async (bytes: number) => {
    since += bytes;
    if (since < 1024 ** 2) return;
    since = 0;
    await pause();
  };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The tests, messages cut where needed so `{"tests": [...]}` is at most `budgetBytes`; and
 * that body's exact size. Measured test by test (no list-sized string is built), yielding
 * to the event loop as it goes.
 */
export async function fitTests(
  tests: readonly TestCaseResult[],
  budgetBytes = TESTS_UPLOAD_BUDGET_BYTES,
  pause: () => Promise<void> = nextTurn,
): Promise<{ tests: TestCaseResult[]; bytes: number }> {
  const paced = pacer(pause);
  /** `{"tests":[` and `]}`, and a comma between two tests */
  const listBytes = (items: readonly number[]) => 12 + Math.max(0, items.length - 1) + items.reduce((a, b) => a + b, 0);
  const full: number[] = [];
  const base: number[] = [];
  for (const t of tests) {
    const bytes = jsonBytes(t);
    full.push(bytes);
    base.push(t.message === undefined ? bytes : jsonBytes({ ...t, message: undefined }));
    await paced(bytes);
  }
  const whole = listBytes(full);
  if (whole <= budgetBytes) return { tests: [...tests], bytes: whole };
  // Each message's JSON bytes per character.
  const ratio = tests.map((t, i) =>
    t.message ? (full[i]! - base[i]! - MESSAGE_KEY_BYTES) / Math.max(1, t.message.length) : 0,
  );
  const room = budgetBytes - 16 - base.reduce((a, b) => a + b + 1, 0);
  if (room < 0)
    throw new ResultsTooLargeError(
      `the per-test results are ${whole} bytes, and above the upload limit (${budgetBytes}) even without their messages`,
    );
  const markerBytes = 120;
  const cost = (limit: number) =>
    tests.reduce((sum, t, i) => {
      const length = t.message?.length ?? 0;
      if (length === 0) return sum;
      return sum + (length <= limit ? length * ratio[i]! + 12 : limit * ratio[i]! + markerBytes);
    }, 0);
  // The longest common message length that fits (binary search).
  let lo = 0;
  let hi = Math.max(0, ...tests.map((t) => t.message?.length ?? 0));
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (cost(mid) <= room) lo = mid;
    else hi = mid - 1;
  }
  for (let limit = lo; ; limit = Math.floor(limit / 2)) {
    const cut: TestCaseResult[] = [];
    const sizes: number[] = [];
    for (const [i, t] of tests.entries()) {
      if (t.message && t.message.length > limit) {
        const shortened = { ...t, message: `${t.message.slice(0, limit)}${marker(limit, t.message.length)}` };
        cut.push(shortened);
        sizes.push(jsonBytes(shortened));
      } else {
        cut.push({ ...t });
        sizes.push(full[i]!);
      }
      await paced(sizes[i]!);
    }
    const bytes = listBytes(sizes);
    if (bytes <= budgetBytes) return { tests: cut, bytes };
    if (limit === 0) {
      const bare = tests.map(({ message: _message, ...rest }) => rest);
      return { tests: bare, bytes: listBytes(base) };
    }
  }
}
