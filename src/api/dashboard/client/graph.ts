/**
 * @module A submission's dependency graph, laid out by dagre and drawn as SVG. Every job
 * attempt is a node coloured by its result (or state). Edges differ by kind:
 * `startDirectlyAfter` chains are thick solid lines (same host, back to back),
 * `startAfter` edges thin arrows (any host, after the parent passed), `parallelWith`
 * partners sit in one dashed recipe-set box joined by a dashed "∥" line, and a
 * re-scheduled clone is joined to its original by a dotted "re-scheduled" arrow and
 * carries a "↻ retry" badge.
 */
import { layout } from '@dagrejs/dagre';
import { Graph } from '@dagrejs/graphlib';
import type { Plan } from '../../../domain/plan.js';
import { latestAttempts, type JobView, type SubmissionView } from '../../../domain/views.js';
import { RESULT_ICON, WAITING_ICON } from './format.js';
import { s } from './dom.js';

export type EdgeKind = 'chain' | 'after' | 'clone' | 'parallel';
export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
}

// dagre's own type declarations do not resolve under NodeNext (extensionless imports);
// graphlib's do, and layout takes a graphlib Graph.
interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}
interface GraphLabel {
  rankdir: string;
  nodesep: number;
  ranksep: number;
  marginx: number;
  marginy: number;
  width?: number;
  height?: number;
}
type LayoutGraph = Graph<
  GraphLabel,
  Partial<Box> & { paddingTop?: number; label?: string },
  { weight?: number; minlen?: number; points?: { x: number; y: number }[] }
>;
const runLayout: (g: LayoutGraph) => void = layout;

const NODE_W = 210;
const NODE_H = 74;

/** The edges of the graph, from the plan's dependencies and the view's lineage. */
export function graphEdges(view: SubmissionView, plan: Plan): GraphEdge[] {
  const planJob = new Map(plan.jobs.map((j) => [j.name, j]));
  const edges: GraphEdge[] = [];
  const bySet = new Map<number, Map<string, JobView>>();
  for (const j of view.jobs) {
    const set = bySet.get(j.setNumber) ?? new Map<string, JobView>();
    set.set(j.name, j);
    bySet.set(j.setNumber, set);
  }
  // Chains and partners exist inside each attempt of a recipe set (a clone repeats them).
  for (const set of bySet.values()) {
    for (const j of set.values()) {
      const pj = planJob.get(j.name);
      if (!pj) continue;
      const parent = pj.startDirectlyAfter !== undefined ? set.get(pj.startDirectlyAfter) : undefined;
      if (parent) edges.push({ from: parent.id, to: j.id, kind: 'chain' });
      for (const name of pj.parallelWith) {
        const partner = set.get(name);
        if (partner) edges.push({ from: partner.id, to: j.id, kind: 'parallel' });
      }
    }
  }
  // After-edges join the attempts that counted: the latest of each job.
  const latest = new Map(latestAttempts(view.jobs).map((j) => [j.name, j]));
  for (const j of latest.values()) {
    for (const name of planJob.get(j.name)?.startAfter ?? []) {
      const parent = latest.get(name);
      if (parent) edges.push({ from: parent.id, to: j.id, kind: 'after' });
    }
  }
  const ids = new Set(view.jobs.map((j) => j.id));
  for (const j of view.jobs)
    if (j.clonedFrom && ids.has(j.clonedFrom)) edges.push({ from: j.clonedFrom, to: j.id, kind: 'clone' });
  return edges;
}

function statusLine(j: JobView): string {
  const r = j.result;
  if (r?.kind === 'aborted') return `${RESULT_ICON.aborted} ABORTED [${r.cause}]`;
  if (r?.kind === 'failed') return `${RESULT_ICON.failed} FAILED (test)`;
  if (r) return `${RESULT_ICON[r.kind]} ${r.kind.toUpperCase()}`;
  if (j.state === 'waiting' || (j.state === 'scheduled' && j.waitingReason))
    return `${WAITING_ICON} ${j.waitingReason ?? 'waiting'}`;
  const p = j.progress;
  if (j.state === 'running' && p)
    return `▶ running${p.module ? ` ${p.module}` : ''}${p.percent !== undefined ? ` ${Math.round(p.percent)}%` : ''}`;
  return j.state;
}

function nodeClass(j: JobView): string {
  return ['job-node', j.result ? `result-${j.result.kind}` : `state-${j.state}`, j.clonedFrom ? 'is-clone' : '']
    .filter(Boolean)
    .join(' ');
}

/** Where the segment from the centre of a box towards (tx, ty) leaves the box. */
function clip(cx: number, cy: number, w: number, hgt: number, tx: number, ty: number): [number, number] {
  const dx = tx - cx;
  const dy = ty - cy;
  if (dx === 0 && dy === 0) return [cx, cy];
  const scale = Math.min(dx === 0 ? Infinity : w / 2 / Math.abs(dx), dy === 0 ? Infinity : hgt / 2 / Math.abs(dy));
  return [cx + dx * scale, cy + dy * scale];
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function dependencyGraph(view: SubmissionView, plan: Plan, open: (jobId: string) => void): SVGSVGElement {
  const g: LayoutGraph = new Graph({ compound: true, multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 28, ranksep: 110, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const recipesOfSet = new Map(plan.recipeSets.map((rs) => [rs.index, rs.recipes.length]));
  const jobsBySet = new Map<number, JobView[]>();
  for (const j of view.jobs) jobsBySet.set(j.setNumber, [...(jobsBySet.get(j.setNumber) ?? []), j]);
  for (const j of view.jobs) g.setNode(j.id, { width: NODE_W, height: NODE_H });
  // A recipe set of several hosts (parallelWith) is drawn as a box around its jobs.
  for (const set of view.recipeSets) {
    if ((recipesOfSet.get(set.planIndex) ?? 1) < 2) continue;
    const cluster = `set-${set.number}`;
    g.setNode(cluster, { label: cluster, paddingTop: 24 });
    for (const j of jobsBySet.get(set.number) ?? []) g.setParent(j.id, cluster);
  }
  const edges = graphEdges(view, plan);
  for (const [i, e] of edges.entries()) {
    if (e.kind === 'parallel') continue;
    g.setEdge(e.from, e.to, { weight: e.kind === 'chain' ? 4 : 1, minlen: 1 }, `e${i}`);
  }
  runLayout(g);
  const size = g.graph();
  const width = Math.max(size.width ?? 0, 240);
  const height = Math.max(size.height ?? 0, 100);

  const svg = s('svg', {
    class: 'graph',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': 'dependency graph',
  });
  svg.append(
    s(
      'defs',
      null,
      s(
        'marker',
        {
          id: 'arrow',
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 10,
          markerHeight: 10,
          markerUnits: 'userSpaceOnUse',
          orient: 'auto-start-reverse',
        },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head' }),
      ),
      s(
        'marker',
        {
          id: 'arrow-clone',
          viewBox: '0 0 10 10',
          refX: 9,
          refY: 5,
          markerWidth: 10,
          markerHeight: 10,
          markerUnits: 'userSpaceOnUse',
          orient: 'auto-start-reverse',
        },
        s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow-head-clone' }),
      ),
      s(
        'pattern',
        { id: 'hatch', width: 8, height: 8, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        s('rect', { width: 8, height: 8, class: 'hatch-bg' }),
        s('line', { x1: 0, y1: 0, x2: 0, y2: 8, class: 'hatch-line' }),
      ),
    ),
  );

  for (const set of view.recipeSets) {
    const c = g.hasNode(`set-${set.number}`) ? g.node(`set-${set.number}`) : undefined;
    if (c?.x === undefined || c.y === undefined || c.width === undefined || c.height === undefined) continue;
    svg.append(
      s(
        'g',
        { class: 'set-box', 'data-set': set.number },
        s('rect', { x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height, rx: 10 }),
        s(
          'text',
          { x: c.x - c.width / 2 + 8, y: c.y - c.height / 2 + 15 },
          `recipe set ${set.number} · parallelWith: start together${set.clonedFrom ? ` · clone of set ${set.clonedFrom}` : ''}`,
        ),
      ),
    );
  }

  for (const [i, e] of edges.entries()) {
    if (e.kind === 'parallel') {
      const a = g.node(e.from);
      const b = g.node(e.to);
      if (a.x === undefined || a.y === undefined || b.x === undefined || b.y === undefined) continue;
      const [x1, y1] = clip(a.x, a.y, NODE_W, NODE_H, b.x, b.y);
      const [x2, y2] = clip(b.x, b.y, NODE_W, NODE_H, a.x, a.y);
      svg.append(
        s(
          'g',
          { class: 'edge edge-parallel', 'data-from': e.from, 'data-to': e.to },
          s('line', { x1, y1, x2, y2 }),
          s('text', { x: (x1 + x2) / 2 + 6, y: (y1 + y2) / 2 + 4 }, '∥'),
        ),
      );
      continue;
    }
    const points = g.edge({ v: e.from, w: e.to, name: `e${i}` })?.points ?? [];
    if (points.length < 2) continue;
    const d = `M${points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' L')}`;
    const first = points[0]!;
    const last = points[points.length - 1]!;
    svg.append(
      s(
        'g',
        { class: `edge edge-${e.kind}`, 'data-from': e.from, 'data-to': e.to },
        s('path', { d, 'marker-end': e.kind === 'clone' ? 'url(#arrow-clone)' : 'url(#arrow)' }),
        e.kind === 'clone'
          ? s(
              'text',
              { x: (first.x + last.x) / 2, y: (first.y + last.y) / 2 - 7, 'text-anchor': 'middle' },
              '↻ re-scheduled',
            )
          : null,
        e.kind === 'chain'
          ? s('title', null, 'startDirectlyAfter: same host, right after')
          : s(
              'title',
              null,
              e.kind === 'clone' ? 'clone of an aborted attempt' : 'startAfter: any host, after the parent passed',
            ),
      ),
    );
  }

  for (const j of view.jobs) {
    const n = g.node(j.id);
    if (n.x === undefined || n.y === undefined) continue;
    const x = n.x - NODE_W / 2;
    const y = n.y - NODE_H / 2;
    const lineage = [j.clonedFrom ? `re-runs ${j.clonedFrom}` : '', j.retriedAs ? `re-scheduled as ${j.retriedAs}` : '']
      .filter(Boolean)
      .join(', ');
    const node = s(
      'g',
      {
        class: nodeClass(j),
        transform: `translate(${x},${y})`,
        'data-job': j.id,
        'data-name': j.name,
        tabindex: 0,
        role: 'link',
      },
      s(
        'title',
        null,
        `${j.name} (${j.id}, attempt ${j.attempt})${lineage ? `: ${lineage}` : ''}${!j.result && j.waitingReason ? ` — ${j.waitingReason}` : ''}`,
      ),
      s('rect', { class: 'node-bg', width: NODE_W, height: NODE_H, rx: 8 }),
      j.result?.kind === 'aborted' ? s('rect', { class: 'node-hatch', width: NODE_W, height: NODE_H, rx: 8 }) : null,
      s('text', { class: 'node-name', x: 10, y: 20 }, truncate(j.name, 22)),
      s('text', { class: 'node-status', x: 10, y: 40 }, truncate(statusLine(j), 30)),
      s('text', { class: 'node-meta', x: 10, y: 60 }, truncate(`${j.id}${j.hostId ? ` · ${j.hostId}` : ''}`, 32)),
      j.clonedFrom
        ? s(
            'g',
            { class: 'clone-badge', transform: `translate(${NODE_W - 64},6)` },
            s('rect', { width: 58, height: 18, rx: 9 }),
            s('text', { x: 29, y: 13 }, j.attempt > 1 ? `↻ retry ${j.attempt}` : '↻ restart'),
          )
        : null,
    );
    node.addEventListener('click', () => open(j.id));
    node.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') open(j.id);
    });
    svg.append(node);
  }
  return svg;
}

export function graphLegend(): HTMLElement {
  const item = (cls: string, text: string) => {
    const el = document.createElement('span');
    el.className = `legend-item ${cls}`;
    el.textContent = text;
    return el;
  };
  const legend = document.createElement('div');
  legend.className = 'legend';
  legend.append(
    item('lg-chain', 'startDirectlyAfter (chain: same host, back to back)'),
    item('lg-after', 'startAfter (after the parent passed)'),
    item('lg-parallel', 'parallelWith (recipe set: start together)'),
    item('lg-clone', 're-scheduled clone of an aborted attempt'),
  );
  return legend;
}
