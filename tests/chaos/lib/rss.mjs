// rss.mjs: resident memory of the stack's processes, from /proc, round after round.
// A process that grows with every round leaks something the rounds exercise; one
// sample per round per process incarnation (a restarted process starts a new series).
import fs from 'node:fs';

export function rssKb(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export class RssTracker {
  // warmup: samples ignored at the start of each series (allocators, caches and
  // connection pools fill up during the first rounds). growKb/growRatio: how much a
  // series may grow past its first counted sample before it counts as growing.
  constructor({ warmup = 2, growKb = 24 * 1024, growRatio = 0.5 } = {}) {
    this.series = new Map(); // `${name}#${incarnation}` -> [kB]
    this.warmup = warmup;
    this.growKb = growKb;
    this.growRatio = growRatio;
  }

  sample(stack) {
    for (const p of stack.procs.values()) {
      if (!p.running || !p.child) continue;
      const kb = rssKb(p.child.pid);
      if (kb == null) continue;
      const key = `${p.name}#${p.incarnation}`;
      if (!this.series.has(key)) this.series.set(key, []);
      this.series.get(key).push(kb);
    }
  }

  // Series that keep growing: at least warmup + 3 samples, the last above the limit
  // and each of the last three no smaller than the one before (a plateau is fine).
  growing() {
    const out = [];
    for (const [key, s] of this.series) {
      if (s.length < this.warmup + 3) continue;
      const base = s[this.warmup];
      const last = s[s.length - 1];
      const tail = s.slice(-3);
      const rising = tail[0] <= tail[1] && tail[1] <= tail[2];
      if (rising && last > base * (1 + this.growRatio) && last - base > this.growKb) {
        out.push(`${key} RSS ${base} kB → ${last} kB over ${s.length - this.warmup} rounds`);
      }
    }
    return out;
  }

  summary() {
    const out = [];
    for (const [key, s] of this.series) {
      if (s.length < 2) continue;
      out.push(`${key}: ${s[0]} → ${s[s.length - 1]} kB (${s.length} samples)`);
    }
    return out;
  }
}
