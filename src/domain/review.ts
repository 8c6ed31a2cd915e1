/**
 * @module Review of results: bug references in comments become links (`bsc#1234`,
 * `gh#org/repo#12`, with the prefixes a lab configures in TESTBAY_BUG_REFS), and the
 * carry-over rule — a new failure of a scenario whose previous failure carried a bug
 * reference, failing the same tests, carries that reference over (openQA's rule).
 * Comments are text: they are split into text and links here, and drawn as DOM text,
 * never as HTML.
 */

/** Prefix → URL base: `{"bsc#": "https://bugzilla.suse.com/show_bug.cgi?id=", "gh#": "https://github.com/"}`. */
export type BugRefPatterns = Record<string, string>;

export type CommentPart = { text: string } | { ref: string; url: string };

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** What follows a prefix: an id (`1234`), or a GitHub-style `org/repo#12`. */
const ID = '([A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_.-]+#[0-9]+)?)';

/** The URL a reference's id opens: `gh#` ids (`org/repo#12`) become `org/repo/issues/12`. */
function urlOf(base: string, id: string): string {
  const gh = /^([^/]+\/[^#]+)#([0-9]+)$/.exec(id);
  return gh ? `${base}${gh[1]}/issues/${gh[2]}` : `${base}${encodeURIComponent(id)}`;
}

/** Splits a comment into text and bug-reference links. */
export function commentParts(text: string, patterns: BugRefPatterns): CommentPart[] {
  const prefixes = Object.keys(patterns).sort((a, b) => b.length - a.length);
  if (prefixes.length === 0) return [{ text }];
  const re = new RegExp(`(?<![A-Za-z0-9])(${prefixes.map(escapeRegExp).join('|')})${ID}`, 'g');
  const parts: CommentPart[] = [];
  let at = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > at) parts.push({ text: text.slice(at, m.index) });
    parts.push({ ref: m[0], url: urlOf(patterns[m[1]!]!, m[2]!) });
    at = m.index + m[0].length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}

/** The bug references a comment holds. */
export function bugRefsOf(text: string, patterns: BugRefPatterns): string[] {
  return commentParts(text, patterns).flatMap((p) => ('ref' in p ? [p.ref] : []));
}

export interface FailedRun {
  jobId: string;
  /** tests that failed (or errored) */
  failedTests: readonly string[];
  /** bug references in its comments */
  bugRefs: readonly string[];
}

/**
 * The carry-over rule: the scenario's previous failure had bug references and failed the
 * same tests as this one (as sets; both without per-test results counts as the same): its
 * references carry over. Returns what to comment, or undefined.
 */
export function carryOver(
  current: Omit<FailedRun, 'bugRefs'>,
  previous: FailedRun | undefined,
): { from: string; bugRefs: string[]; text: string } | undefined {
  if (!previous || previous.bugRefs.length === 0) return undefined;
  const a = new Set(current.failedTests);
  const b = new Set(previous.failedTests);
  if (a.size !== b.size || [...a].some((t) => !b.has(t))) return undefined;
  const refs = [...new Set(previous.bugRefs)];
  return { from: previous.jobId, bugRefs: refs, text: `carried over from ${previous.jobId}: ${refs.join(', ')}` };
}
