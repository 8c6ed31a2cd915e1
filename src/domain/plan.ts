/**
 * @module The planner: turns a submission's jobs into chains (jobs linked by
 * `startDirectlyAfter`, run back to back on one host), recipe sets (chains linked by
 * `parallelWith`, leased and started together) and the after-edges between recipe sets.
 * It also finds every way the graph cannot be placed, each with the path of the field.
 */
import type { BatchRun, Job, Submission } from './job.js';
import { DEFAULT_POOL } from './ids.js';
import { findConflict, type Requirement, formatRequirement } from './requirements.js';

export interface PlanJob extends Job {
  index: number;
  /** index into plan.recipes */
  recipe: number;
  /** index into plan.recipeSets */
  set: number;
  /** jobs that run directly after this one on the same host, in spec order */
  chainChildren: string[];
}

/** One host's share of a recipe set: a chain tree, run in `jobs` order. */
export interface PlanRecipe {
  index: number;
  set: number;
  jobs: string[];
  workerClass: string;
  hostRequires: Requirement[];
  /** the host every job of the chain is pinned to (`host:`) */
  host?: string;
}

export interface PlanRecipeSet {
  index: number;
  recipes: number[];
  jobs: string[];
  /** recipe sets whose jobs some job of this set starts after */
  after: number[];
  maxRetries: number;
  priority: number;
  queueTimeoutMs?: number;
  /** the pool every job of the set is in (one scheduler leases all its hosts); absent = `default` */
  pool?: string;
  /** set (false) when a failed job leaves its partners running; absent: they are stopped */
  stopPartnersOnFailure?: false;
}

/** A batch run in the plan: its settings, without the (possibly huge) list of test ids. */
export interface PlanBatchRun extends Omit<BatchRun, 'tests'> {
  /** job number: batch runs are numbered after the jobs (`<submission>.<number>`) */
  number: number;
  /** how many tests were given; 0 when testsCommand lists them */
  testCount: number;
}

export interface Plan {
  name?: string;
  jobs: PlanJob[];
  recipes: PlanRecipe[];
  recipeSets: PlanRecipeSet[];
  batchRuns: PlanBatchRun[];
}

export interface GraphIssue {
  path: (string | number)[];
  message: string;
}

const q = (name: string) => `\`${name}\``;

type EdgeField = 'startAfter' | 'startDirectlyAfter';
interface Edge {
  parent: number;
  child: number;
  field: EdgeField;
  position: number;
}

/** Checks the dependency graph and, when it can be placed, builds the plan. */
export function analyseGraph(jobs: readonly Job[]): { issues: GraphIssue[]; plan?: Omit<Plan, 'name' | 'batchRuns'> } {
  const issues: GraphIssue[] = [];
  const byName = new Map<string, number>();
  jobs.forEach((job, i) => {
    const first = byName.get(job.name);
    if (first !== undefined) {
      issues.push({ path: ['jobs', i, 'name'], message: `duplicate job name ${q(job.name)} (also jobs.${first})` });
    } else {
      byName.set(job.name, i);
    }
  });

  const edges: Edge[] = [];
  const refs = (i: number, field: EdgeField | 'parallelWith', names: readonly string[]) =>
    names.flatMap((name, position) => {
      const path = field === 'startDirectlyAfter' ? ['jobs', i, field] : ['jobs', i, field, position];
      const target = byName.get(name);
      if (target === undefined) {
        issues.push({ path, message: `unknown job ${q(name)}` });
        return [];
      }
      if (target === i) {
        issues.push({ path, message: `job ${q(name)} cannot depend on itself` });
        return [];
      }
      return [{ target, position }];
    });

  const partners: [number, number, number][] = [];
  jobs.forEach((job, i) => {
    for (const { target, position } of refs(i, 'startAfter', job.startAfter)) {
      edges.push({ parent: target, child: i, field: 'startAfter', position });
    }
    if (job.startDirectlyAfter !== undefined) {
      for (const { target } of refs(i, 'startDirectlyAfter', [job.startDirectlyAfter])) {
        edges.push({ parent: target, child: i, field: 'startDirectlyAfter', position: 0 });
      }
    }
    for (const { target, position } of refs(i, 'parallelWith', job.parallelWith)) partners.push([i, target, position]);
  });
  if (issues.length > 0) return { issues };

  const cycle = findCycle(jobs.length, edges);
  if (cycle) {
    const names = cycle.nodes.map((n) => q(jobs[n]!.name));
    issues.push({
      path: edgePath(cycle.closing),
      message: `dependency cycle: ${[...names, names[0]].join(' → ')}`,
    });
    return { issues };
  }

  // Chains: each job's chain parent. Every job of a chain tree runs on the one host of its
  // root, so the whole tree must agree on the worker class and the host requirements.
  const chainParent = new Map<number, number>();
  for (const e of edges) if (e.field === 'startDirectlyAfter') chainParent.set(e.child, e.parent);
  const rootOf = (i: number): number => {
    let r = i;
    for (let p = chainParent.get(r); p !== undefined; p = chainParent.get(r)) r = p;
    return r;
  };
  const ancestorsOf = (i: number): number[] => {
    const found: number[] = [];
    for (let a = chainParent.get(i); a !== undefined; a = chainParent.get(a)) found.push(a);
    return found;
  };
  /** `A` → `B` → `C`: how a job is chained to its root. */
  const chainPath = (i: number): string => [...ancestorsOf(i).reverse(), i].map((n) => q(jobs[n]!.name)).join(' → ');

  // Recipes: one per chain root, jobs in depth-first order with children in spec order.
  const children = new Map<number, number[]>();
  for (const [child, parent] of [...chainParent].sort((a, b) => a[0] - b[0])) {
    children.set(parent, [...(children.get(parent) ?? []), child]);
  }
  const recipeOfRoot = new Map<number, number>();
  const recipeJobs: number[][] = [];
  jobs.forEach((_, i) => {
    if (chainParent.has(i)) return;
    recipeOfRoot.set(i, recipeJobs.length);
    const order: number[] = [];
    const visit = (n: number) => {
      order.push(n);
      for (const c of children.get(n) ?? []) visit(c);
    };
    visit(i);
    recipeJobs.push(order);
  });

  for (const order of recipeJobs) {
    /** jobs of this tree checked so far, in run order */
    const earlier: number[] = [];
    for (const child of order) {
      const parent = chainParent.get(child);
      if (parent === undefined) {
        earlier.push(child);
        continue;
      }
      const c = jobs[child]!;
      const p = jobs[parent]!;
      const path = ['jobs', child, 'startDirectlyAfter'];
      if (c.workerClass !== p.workerClass) {
        issues.push({
          path,
          message: `${q(c.name)} runs directly after ${q(p.name)} on the same host, but their worker classes differ (${c.workerClass} vs ${p.workerClass})`,
        });
        continue;
      }
      const ancestors = ancestorsOf(child);
      const own = [...c.hostRequires, ...ancestors.flatMap((a) => jobs[a]!.hostRequires)];
      const conflict = findConflict(
        c.hostRequires,
        ancestors.flatMap((a) => jobs[a]!.hostRequires),
      );
      if (conflict) {
        issues.push({
          path,
          message: `${q(c.name)} runs directly after ${q(p.name)} on the same host, but ${conflict}`,
        });
        continue;
      }
      // Another branch of the same tree runs on the same host too (A → B, A → D).
      const others = earlier.filter((e) => !ancestors.includes(e));
      if (
        findConflict(
          own,
          others.flatMap((e) => jobs[e]!.hostRequires),
        )
      ) {
        const root = jobs[order[0]!]!;
        const culprit = others.find((e) => findConflict(own, jobs[e]!.hostRequires) !== undefined);
        const other = culprit === undefined ? undefined : jobs[culprit]!;
        const why = findConflict(own, other ? other.hostRequires : others.flatMap((e) => jobs[e]!.hostRequires))!;
        issues.push({
          path,
          message: other
            ? `${q(c.name)} and ${q(other.name)} run on the same host (${chainPath(culprit!)} and ${chainPath(child)}), but ${why}`
            : `${q(c.name)} runs on the same host as the rest of the chain from ${q(root.name)}, but ${why}`,
        });
        continue;
      }
      earlier.push(child);
    }
  }
  const recipeOf = (i: number) => recipeOfRoot.get(rootOf(i))!;

  // Recipe sets: recipes joined by parallelWith, which is only possible between chain roots.
  const union = new UnionFind(recipeJobs.length);
  for (const [i, target, position] of partners) {
    const path = ['jobs', i, 'parallelWith', position];
    const [a, b] = [jobs[i]!, jobs[target]!];
    if (recipeOf(i) === recipeOf(target)) {
      issues.push({
        path,
        message: `${q(a.name)} and ${q(b.name)} are in the same chain on one host, so they cannot run in parallel on different hosts`,
      });
      continue;
    }
    const late = [i, target].find((n) => chainParent.has(n));
    if (late !== undefined) {
      const lateJob = jobs[late]!;
      const other = late === i ? b : a;
      issues.push({
        path,
        message: `${q(lateJob.name)} runs directly after ${q(jobs[chainParent.get(late)!]!.name)}, so it cannot start together with ${q(other.name)}; put parallelWith on the first job of its chain`,
      });
      continue;
    }
    union.join(recipeOf(i), recipeOf(target));
  }
  if (issues.length > 0) return { issues };

  const setOfGroup = new Map<number, number>();
  const recipeSet: number[] = recipeJobs.map((_, r) => {
    const g = union.find(r);
    if (!setOfGroup.has(g)) setOfGroup.set(g, setOfGroup.size);
    return setOfGroup.get(g)!;
  });
  const setOf = (i: number) => recipeSet[recipeOf(i)]!;

  // After-edges between recipe sets; an after-edge inside one set cannot be honoured.
  const setEdges: Edge[] = [];
  for (const e of edges) {
    if (e.field !== 'startAfter') continue;
    if (setOf(e.parent) !== setOf(e.child)) {
      setEdges.push(e);
      continue;
    }
    const [c, p] = [jobs[e.child]!, jobs[e.parent]!];
    issues.push({
      path: edgePath(e),
      message:
        recipeOf(e.child) === recipeOf(e.parent)
          ? `${q(c.name)} and ${q(p.name)} run in the same chain on one host; order them with startDirectlyAfter instead of startAfter`
          : `${q(c.name)} starts together with ${q(p.name)} (parallelWith), so it cannot also wait for it`,
    });
  }
  if (issues.length > 0) return { issues };
  const setCount = setOfGroup.size;
  const setCycle = findCycle(
    setCount,
    setEdges.map((e) => ({ ...e, parent: setOf(e.parent), child: setOf(e.child) })),
  );
  if (setCycle) {
    const closing = setEdges.find(
      (e) => setOf(e.parent) === setCycle.closing.parent && setOf(e.child) === setCycle.closing.child,
    )!;
    issues.push({
      path: edgePath(closing),
      message: `${q(jobs[closing.child]!.name)} starts after ${q(jobs[closing.parent]!.name)}, but that job itself waits for the chain or recipe set of ${q(jobs[closing.child]!.name)}: a chain holds its host from its first job to its last, so this cannot be placed`,
    });
    return { issues };
  }

  const planJobs: PlanJob[] = jobs.map((job, index) => ({
    ...job,
    index,
    recipe: recipeOf(index),
    set: setOf(index),
    chainChildren: (children.get(index) ?? []).map((c) => jobs[c]!.name),
  }));
  const recipes: PlanRecipe[] = recipeJobs.map((order, index) => {
    const requirements = new Map<string, Requirement>();
    for (const n of order) for (const r of jobs[n]!.hostRequires) requirements.set(formatRequirement(r), r);
    const recipe: PlanRecipe = {
      index,
      set: recipeSet[index]!,
      jobs: order.map((n) => jobs[n]!.name),
      workerClass: jobs[order[0]!]!.workerClass,
      hostRequires: [...requirements.values()],
    };
    // A chain runs on one host: the jobs that name one must name the same.
    const pinned = order.filter((n) => jobs[n]!.host !== undefined);
    const first = pinned[0];
    if (first !== undefined) {
      recipe.host = jobs[first]!.host!;
      const other = pinned.find((n) => jobs[n]!.host !== recipe.host);
      if (other !== undefined) {
        issues.push({
          path: ['jobs', other, 'host'],
          message: `${q(jobs[other]!.name)} runs on the same host as ${q(jobs[first]!.name)} (startDirectlyAfter), but they name different hosts (${jobs[other]!.host} vs ${recipe.host})`,
        });
      }
    }
    return recipe;
  });
  // The recipes of a set run on distinct hosts at once: two cannot be pinned to one host.
  for (const recipe of recipes) {
    const twin = recipes.find(
      (r) => r.index < recipe.index && r.set === recipe.set && r.host !== undefined && r.host === recipe.host,
    );
    if (twin) {
      const at = jobs.findIndex(
        (j) => j.name === recipe.jobs.find((n) => jobs.find((x) => x.name === n)?.host !== undefined),
      );
      issues.push({
        path: ['jobs', at, 'host'],
        message: `${q(jobs[at]!.name)} starts together with ${q(twin.jobs[0]!)} (parallelWith) on a host of its own, but both are pinned to ${recipe.host}`,
      });
    }
  }
  if (issues.length > 0) return { issues };
  // One scheduler leases a recipe set's hosts all-or-nothing: its jobs share a pool.
  const poolIssues: GraphIssue[] = [];
  for (let set = 0; set < setCount; set++) {
    const setJobs = planJobs.filter((j) => j.set === set);
    const first = setJobs[0]!;
    const other = setJobs.find((j) => (j.pool ?? DEFAULT_POOL) !== (first.pool ?? DEFAULT_POOL));
    if (other) {
      poolIssues.push({
        path: ['jobs', other.index, 'pool'],
        message: `${q(other.name)} is in pool ${other.pool ?? DEFAULT_POOL} but runs in one recipe set with ${q(first.name)} (pool ${first.pool ?? DEFAULT_POOL}): the jobs of a recipe set (parallelWith, startDirectlyAfter) must share a pool`,
      });
    }
  }
  if (poolIssues.length > 0) return { issues: [...issues, ...poolIssues] };
  const recipeSets: PlanRecipeSet[] = Array.from({ length: setCount }, (_, index) => {
    const members = recipes.filter((r) => r.set === index);
    const setJobs = planJobs.filter((j) => j.set === index);
    const queueTimeouts = setJobs.flatMap((j) => (j.queueTimeoutMs === undefined ? [] : [j.queueTimeoutMs]));
    const set: PlanRecipeSet = {
      index,
      recipes: members.map((r) => r.index),
      jobs: members.flatMap((r) => r.jobs),
      after: [...new Set(setEdges.filter((e) => setOf(e.child) === index).map((e) => setOf(e.parent)))].sort(
        (a, b) => a - b,
      ),
      maxRetries: Math.max(...setJobs.map((j) => j.maxRetries)),
      priority: Math.min(...setJobs.map((j) => j.priority)),
    };
    if (queueTimeouts.length > 0) set.queueTimeoutMs = Math.min(...queueTimeouts);
    if (setJobs[0]!.pool !== undefined) set.pool = setJobs[0]!.pool;
    const stopChoices = new Set(
      setJobs.flatMap((j) => (j.stopPartnersOnFailure === undefined ? [] : [j.stopPartnersOnFailure])),
    );
    if (stopChoices.size > 1) {
      const first = setJobs.find((j) => j.stopPartnersOnFailure === false)!;
      const other = setJobs.find((j) => j.stopPartnersOnFailure === true)!;
      issues.push({
        path: ['jobs', first.index, 'stopPartnersOnFailure'],
        message: `${q(first.name)} and ${q(other.name)} are in one recipe set but disagree on stopPartnersOnFailure: set it the same on both, or on one only`,
      });
    }
    if (stopChoices.has(false)) set.stopPartnersOnFailure = false;
    return set;
  });
  return { issues, plan: { jobs: planJobs, recipes, recipeSets } };
}

/** Builds the plan of a submission the spec schema accepted. */
export function buildPlan(submission: Submission): Plan {
  const { issues, plan } = analyseGraph(submission.jobs);
  if (!plan) throw new Error(`buildPlan called on an invalid submission: ${issues.map((i) => i.message).join('; ')}`);
  const batchRuns = (submission.batchRuns ?? []).map(({ tests, ...run }, i): PlanBatchRun => ({
    ...run,
    number: submission.jobs.length + i + 1,
    testCount: tests?.length ?? 0,
  }));
  return { ...(submission.name === undefined ? {} : { name: submission.name }), ...plan, batchRuns };
}

function edgePath(e: Edge): (string | number)[] {
  return e.field === 'startDirectlyAfter' ? ['jobs', e.child, e.field] : ['jobs', e.child, e.field, e.position];
}

/** Depth-first search for a cycle; returns its nodes (in run order) and the edge closing it. */
function findCycle(count: number, edges: readonly Edge[]): { nodes: number[]; closing: Edge } | undefined {
  const out = new Map<number, Edge[]>();
  for (const e of edges) out.set(e.parent, [...(out.get(e.parent) ?? []), e]);
  const state = new Array<0 | 1 | 2>(count).fill(0);
  const stack: number[] = [];
  const visit = (n: number): { nodes: number[]; closing: Edge } | undefined => {
    state[n] = 1;
    stack.push(n);
    for (const e of out.get(n) ?? []) {
      if (state[e.child] === 1) return { nodes: stack.slice(stack.indexOf(e.child)), closing: e };
      if (state[e.child] === 0) {
        const found = visit(e.child);
        if (found) return found;
      }
    }
    stack.pop();
    state[n] = 2;
    return undefined;
  };
  for (let n = 0; n < count; n++) {
    if (state[n] === 0) {
      const found = visit(n);
      if (found) return found;
    }
  }
  return undefined;
}

class UnionFind {
  private readonly parent: number[];
  constructor(size: number) {
    this.parent = Array.from({ length: size }, (_, i) => i);
  }
  find(x: number): number {
    let r = x;
    while (this.parent[r] !== r) r = this.parent[r]!;
    this.parent[x] = r;
    return r;
  }
  join(a: number, b: number): void {
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

/**
 * First-attempt job numbers: jobs are numbered recipe set by recipe set, in chain order.
 * The API answers a submit with these ids before the workflow has run a single step;
 * the submission workflow numbers its jobs with the same function.
 */
export function initialJobNumbers(plan: Pick<Plan, 'recipeSets'>): Map<string, number> {
  return new Map(plan.recipeSets.flatMap((s) => s.jobs).map((name, i) => [name, i + 1]));
}
