// CPU time and resident memory of a process and its descendants, read from /proc (Linux), so a
// clustered server (a primary and its workers) is measured as one.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every mainstream Linux build. */
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;

interface ProcStat {
  pid: number;
  ppid: number;
  cpuTicks: number;
  rssBytes: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    // Fields after the name, 0-based: 1 ppid, 11 utime, 12 stime, 21 rss (pages).
    return {
      pid,
      ppid: Number(fields[1]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
      rssBytes: Number(fields[21]) * PAGE_BYTES,
    };
  } catch {
    return undefined;
  }
}

/** The process and all its live descendants. */
function tree(rootPid: number): ProcStat[] {
  const all: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readStat(Number(entry));
    if (s) all.push(s);
  }
  const inTree = new Set([rootPid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const s of all) {
      if (!inTree.has(s.pid) && inTree.has(s.ppid)) {
        inTree.add(s.pid);
        grew = true;
      }
    }
  }
  return all.filter((s) => inTree.has(s.pid));
}

export interface TreeUsage {
  /** User + system CPU seconds consumed so far by the live tree. */
  cpuSeconds: number;
  rssBytes: number;
}

export function treeUsage(rootPid: number): TreeUsage {
  const procs = tree(rootPid);
  return {
    cpuSeconds: procs.reduce((sum, s) => sum + s.cpuTicks, 0) / TICKS_PER_SECOND,
    rssBytes: procs.reduce((sum, s) => sum + s.rssBytes, 0),
  };
}

/** Samples a tree while a load runs: CPU used between start and stop, and the peak RSS seen. */
export function sampleTree(
  rootPid: number,
  everyMs = 250,
): { stop(): { cpuSeconds: number; peakRss: number } } {
  const first = treeUsage(rootPid);
  let peakRss = first.rssBytes;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, treeUsage(rootPid).rssBytes);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const last = treeUsage(rootPid);
      peakRss = Math.max(peakRss, last.rssBytes);
      return { cpuSeconds: Math.max(0, last.cpuSeconds - first.cpuSeconds), peakRss };
    },
  };
}
