#!/usr/bin/env node
// The runner guard's process (see runner-guard.ts): reads "+<pgid> <startTicks> <marker>"
// and "-<pgid>" lines on stdin from its host; when stdin ends — the host exited or was
// killed with SIGKILL — it stops every group still listed, and the processes that left a
// group but carry its marker in their environment (started since its runner), with
// SIGTERM, then SIGKILL after the grace period, and exits.
// Plain JavaScript so it starts in a few milliseconds without a TypeScript loader.
'use strict';
import fs from 'node:fs';
const graceMs = Number(process.argv[2] || 10000);
/** pgid → { startTicks, marker } */
const groups = new Map();
let pending = '';

const stat = (pid) => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], pgrp: Number(fields[2]), startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
};
const liveStat = (pid) => {
  const s = stat(pid);
  return s && s.state !== 'Z' && s.state !== 'X' ? s : undefined;
};
/** Live processes outside the listed groups that carry one of their markers. */
const escaped = (listed) => {
  let entries;
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  const found = [];
  for (const entry of entries) {
    const pid = Number(entry);
    const s = liveStat(pid);
    if (!s || pid === process.pid) continue;
    const mine = listed.filter(([pgid, g]) => s.pgrp !== pgid && s.startTicks >= g.startTicks);
    if (mine.length === 0) continue;
    let environ;
    try {
      environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (mine.some(([, g]) => g.marker && environ.includes(g.marker))) found.push(pid);
  }
  return found;
};
const kill = (pid, sig) => {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
};

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
    const [head = '', ticks = '0', marker = ''] = line.split(' ');
    const pgid = Number(head.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (head[0] === '+') groups.set(pgid, { startTicks: Number(ticks) || 0, marker });
    else if (head[0] === '-') groups.delete(pgid);
  }
});
process.stdin.on('end', () => {
  const listed = [...groups];
  const left = listed.map(([pgid]) => pgid).filter(alive);
  const strays = escaped(listed);
  if (left.length === 0 && strays.length === 0) process.exit(0);
  for (const pgid of left) signal(pgid, 'SIGTERM');
  for (const pid of strays) kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  const check = setInterval(() => {
    const still = left.filter(alive);
    const straysLeft = strays.filter((pid) => liveStat(pid) !== undefined);
    if ((still.length > 0 || straysLeft.length > 0) && Date.now() < deadline) return;
    for (const pgid of still) signal(pgid, 'SIGKILL');
    for (const pid of straysLeft) kill(pid, 'SIGKILL');
    clearInterval(check);
    process.exit(0);
  }, 50);
});
// Ctrl-C in a terminal reaches the host, which then ends the pipe: let that decide.
process.on('SIGINT', () => {});
