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

const marker = (kept: number, of: number) => ` … [cut by testbay: ${kept} of ${of} characters kept so the results fit one upload]`;

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** The tests, messages cut where needed so `{"tests": [...]}` is at most `budgetBytes`; and that body's size. */
export function fitTests(tests: readonly TestCaseResult[], budgetBytes = TESTS_UPLOAD_BUDGET_BYTES): { tests: TestCaseResult[]; bytes: number } {
  const whole = jsonBytes({ tests });
  if (whole <= budgetBytes) return { tests: [...tests], bytes: whole };
  // What each test costs without its message, and its message's bytes per character.
  const base = tests.map(({ message: _message, ...rest }) => jsonBytes(rest) + 1);
  const ratio = tests.map((t) => (t.message ? jsonBytes(t.message) / Math.max(1, t.message.length) : 0));
  const room = budgetBytes - 16 - base.reduce((a, b) => a + b, 0);
  if (room < 0) throw new ResultsTooLargeError(`the per-test results are ${whole} bytes, and above the upload limit (${budgetBytes}) even without their messages`);
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
    const cut = tests.map((t) => (t.message && t.message.length > limit ? { ...t, message: `${t.message.slice(0, limit)}${marker(limit, t.message.length)}` } : { ...t }));
    const bytes = jsonBytes({ tests: cut });
    if (bytes <= budgetBytes) return { tests: cut, bytes };
    if (limit === 0) {
      const bare = tests.map(({ message: _message, ...rest }) => rest);
      return { tests: bare, bytes: jsonBytes({ tests: bare }) };
    }
  }
}
