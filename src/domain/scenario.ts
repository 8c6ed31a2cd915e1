/**
 * @module Scenarios: what a job tests across submissions — its name and worker class, and
 * the settings its spec names in `scenarioKeys` (openQA's test suite + machine + flavor +
 * arch + version). A scenario's key is one URL-safe string, so its history, its last good
 * run and its badge have an address (`/scenarios/<key>/history`). A batch run's tests
 * have one scenario each: the run's, with the test id.
 */

export interface ScenarioInput {
  name: string;
  workerClass: string;
  settings: Readonly<Record<string, string>>;
  /** settings that belong to the scenario, in the spec's order */
  scenarioKeys?: readonly string[];
}

/** The scenario's parts, for people: `install @ qemu_x86_64 (ARCH=x86_64, FLAVOR=DVD)`. */
export interface Scenario {
  key: string;
  name: string;
  workerClass: string;
  settings: Record<string, string>;
}

/** Encodes one part of a key: letters, digits, . _ - stay; any other byte as ~XX (its UTF-8 in hex). */
const part = (s: string) =>
  encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%/g, '~');

/**
 * A job's scenario. The key is `<name>@<workerClass>` and, per scenario setting,
 * `+<NAME>=<value>` (a setting the job does not have is `+<NAME>=`), every part encoded.
 */
export function scenarioOf(job: ScenarioInput): Scenario {
  const settings: Record<string, string> = {};
  for (const k of job.scenarioKeys ?? []) settings[k] = job.settings[k] ?? '';
  const extra = Object.entries(settings)
    .map(([k, v]) => `+${part(k)}=${part(v)}`)
    .join('');
  return {
    key: `${part(job.name)}@${part(job.workerClass)}${extra}`,
    name: job.name,
    workerClass: job.workerClass,
    settings,
  };
}

/** The scenario of one test of a batch run: the run's, with the test id. */
export function testScenarioOf(run: ScenarioInput, testId: string): Scenario {
  const s = scenarioOf(run);
  return { ...s, key: `${s.key}/${part(testId)}`, name: `${run.name}/${testId}` };
}

export const SCENARIO_KEY_PATTERN =
  /^[A-Za-z0-9._~-]+@[A-Za-z0-9._~-]+(\+[A-Za-z0-9._~-]+=[A-Za-z0-9._~-]*)*(\/[A-Za-z0-9._~-]+)?$/;

/** How a scenario reads for people. */
export function describeScenario(s: Scenario): string {
  const settings = Object.entries(s.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return `${s.name} @ ${s.workerClass}${settings ? ` (${settings})` : ''}`;
}

/**
 * The scenario of a job record of a submission, by the record's name: a job, or a batch
 * of a batch run (`<run>#<batch>`, the run's scenario). Undefined for a name the
 * submission does not have (a health check's record, say).
 */
export function scenarioOfRecord(
  submission: { jobs: readonly ScenarioInput[]; batchRuns?: readonly ScenarioInput[] },
  recordName: string,
): Scenario | undefined {
  const job = submission.jobs.find((j) => j.name === recordName);
  if (job) return scenarioOf(job);
  const hash = recordName.lastIndexOf('#');
  const run = hash > 0 ? submission.batchRuns?.find((r) => r.name === recordName.slice(0, hash)) : undefined;
  return run ? scenarioOf(run) : undefined;
}

/** Reads a key back into its parts (the inverse of scenarioOf's encoding); undefined when it is not a key. */
export function parseScenarioKey(
  key: string,
): { name: string; workerClass: string; settings: Record<string, string>; testId?: string } | undefined {
  if (!SCENARIO_KEY_PATTERN.test(key)) return undefined;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/~/g, '%'));
    } catch {
      return undefined;
    }
  };
  const [head, testPart] = key.split('/') as [string, string | undefined];
  const [base, ...extras] = head.split('+');
  const [name, workerClass] = base!.split('@').map(decode);
  if (name === undefined || workerClass === undefined) return undefined;
  const settings: Record<string, string> = {};
  for (const e of extras) {
    const [k, v] = e.split('=').map(decode);
    if (k === undefined || v === undefined) return undefined;
    settings[k] = v;
  }
  const testId = testPart === undefined ? undefined : decode(testPart);
  if (testPart !== undefined && testId === undefined) return undefined;
  return { name, workerClass, settings, ...(testId !== undefined ? { testId } : {}) };
}
