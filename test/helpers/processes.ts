/**
 * The processes a test's lab left on this machine, found through /proc by what they
 * mention: a folder in their command line, working dir or environment.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface FoundProcess {
  pid: number;
  cmdline: string;
}

/** Live (not zombie) processes other than this one whose command line, working dir or environment mention the folder. */
export function processesMentioning(dir: string): FoundProcess[] {
  const found: FoundProcess[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/^\d+ \(.*\) Z/.test(stat)) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmdline.includes(dir) || cwd.startsWith(dir) || environ.includes(dir))
        found.push({ pid: Number(pid), cmdline });
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/** The same, as `pid: command line` lines (what a failed assertion shows). */
export function processesUsing(dir: string): string[] {
  return processesMentioning(dir).map((p) => `${p.pid}: ${p.cmdline.slice(0, 120)}`);
}
