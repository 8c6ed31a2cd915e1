#!/usr/bin/env node
// The runner guard's process (see runner-guard.ts): reads "+<pgid>" and "-<pgid>" lines on
// stdin from its host; when stdin ends — the host exited or was killed with SIGKILL — it
// stops every group still listed (SIGTERM, then SIGKILL after the grace period) and exits.
// Plain JavaScript so it starts in a few milliseconds without a TypeScript loader.
'use strict';
const graceMs = Number(process.argv[2] || 10000);
const groups = new Set();
let pending = '';

const alive = (pgid) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};
const signal = (pgid, sig) => {
  try {
    process.kill(-pgid, sig);
  } catch {
    // gone already
  }
};

process.stdin.setEncoding('utf8');
process.stdin.on('data', (text) => {
  pending += text;
  let nl;
  while ((nl = pending.indexOf('\n')) !== -1) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line[0] === '+') groups.add(pgid);
    else if (line[0] === '-') groups.delete(pgid);
  }
});
process.stdin.on('end', () => {
  const left = [...groups].filter(alive);
  if (left.length === 0) process.exit(0);
  for (const pgid of left) signal(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  const check = setInterval(() => {
    const still = left.filter(alive);
    if (still.length > 0 && Date.now() < deadline) return;
    for (const pgid of still) signal(pgid, 'SIGKILL');
    clearInterval(check);
    process.exit(0);
  }, 50);
});
// Ctrl-C in a terminal reaches the host, which then ends the pipe: let that decide.
process.on('SIGINT', () => {});
