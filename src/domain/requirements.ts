/**
 * @module Host requirements: `key op value` constraints on host capabilities (Beaker's
 * hostRequires). Parsing, matching against a host, and checking that two sets of
 * constraints can be met by one host (jobs chained onto the same host must agree).
 */

export const REQUIREMENT_OPERATORS = ['==', '!=', '>=', '<=', '>', '<'] as const;
export type RequirementOperator = (typeof REQUIREMENT_OPERATORS)[number];

export interface Requirement {
  key: string;
  op: RequirementOperator;
  value: string;
}

/** Host capabilities as reported by `testbay host` (`--cap key=value` plus detected ones). */
export type Capabilities = Record<string, string>;

const EXPRESSION = /^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(==|!=|>=|<=|>|<|=)\s*(\S(?:.*\S)?)\s*$/;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses `arch == x86_64`, `memory_gb >= 16` (a single `=` means `==`). */
export function parseRequirement(text: string): ParseResult<Requirement> {
  const m = EXPRESSION.exec(text);
  if (!m) {
    return {
      ok: false,
      error: `"${text}" is not a requirement: write "key op value" with op one of ${REQUIREMENT_OPERATORS.join(' ')}, e.g. "memory_gb >= 16"`,
    };
  }
  const [, key, rawOp, value] = m as unknown as [string, string, string, string];
  const op = (rawOp === '=' ? '==' : rawOp) as RequirementOperator;
  if ((op === '>' || op === '<' || op === '>=' || op === '<=') && !isNumeric(value)) {
    return { ok: false, error: `"${text}": ${op} compares numbers, but "${value}" is not a number` };
  }
  return { ok: true, value: { key, op, value } };
}

export function formatRequirement(r: Requirement): string {
  return `${r.key} ${r.op} ${r.value}`;
}

function isNumeric(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}

/** True when the capabilities satisfy the requirement. A missing key satisfies only `!=`. */
export function satisfies(caps: Capabilities, r: Requirement): boolean {
  const actual = caps[r.key];
  if (actual === undefined) return r.op === '!=';
  const numeric = isNumeric(actual) && isNumeric(r.value);
  const a = Number(actual);
  const b = Number(r.value);
  switch (r.op) {
    case '==':
      return numeric ? a === b : actual === r.value;
    case '!=':
      return numeric ? a !== b : actual !== r.value;
    case '>=':
      return numeric && a >= b;
    case '<=':
      return numeric && a <= b;
    case '>':
      return numeric && a > b;
    case '<':
      return numeric && a < b;
  }
}

export function satisfiesAll(caps: Capabilities, rs: readonly Requirement[]): boolean {
  return rs.every((r) => satisfies(caps, r));
}

/**
 * Finds a key on which the two lists of requirements contradict each other, so that no
 * host can satisfy both; returns a sentence naming it, or undefined when they agree.
 */
export function findConflict(a: readonly Requirement[], b: readonly Requirement[]): string | undefined {
  const all = [...a, ...b];
  const keys = [...new Set(all.map((r) => r.key))];
  for (const key of keys) {
    const rs = all.filter((r) => r.key === key);
    if (!isSatisfiable(rs))
      return `no host can satisfy ${rs
        .map(formatRequirement)
        .map((s) => `"${s}"`)
        .join(' and ')}`;
  }
  return undefined;
}

function isSatisfiable(rs: readonly Requirement[]): boolean {
  const equals = [...new Set(rs.filter((r) => r.op === '==').map((r) => r.value))];
  const notEquals = rs.filter((r) => r.op === '!=').map((r) => r.value);
  const numericEquals = equals.filter(isNumeric).map(Number);
  if (new Set(numericEquals).size > 1) return false;
  if (equals.length > 1 && !(equals.every(isNumeric) && new Set(numericEquals).size === 1)) return false;
  let low = -Infinity;
  let lowInclusive = true;
  let high = Infinity;
  let highInclusive = true;
  for (const r of rs) {
    const v = Number(r.value);
    if (r.op === '>=' && (v > low || (v === low && !lowInclusive))) [low, lowInclusive] = [v, true];
    if (r.op === '>' && v >= low) [low, lowInclusive] = [v, false];
    if (r.op === '<=' && (v < high || (v === high && !highInclusive))) [high, highInclusive] = [v, true];
    if (r.op === '<' && v <= high) [high, highInclusive] = [v, false];
  }
  const hasBounds = low !== -Infinity || high !== Infinity;
  const inBounds = (v: number) => (lowInclusive ? v >= low : v > low) && (highInclusive ? v <= high : v < high);
  const equal = equals[0];
  if (equal !== undefined) {
    if (notEquals.includes(equal)) return false;
    if (hasBounds) return isNumeric(equal) && inBounds(Number(equal));
    return true;
  }
  if (!hasBounds) return true;
  if (low > high) return false;
  if (low === high) return lowInclusive && highInclusive && !notEquals.some((v) => Number(v) === low);
  return true;
}
