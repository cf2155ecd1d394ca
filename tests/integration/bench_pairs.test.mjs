// bench/pairs.mjs, the script every ratio in docs/performance.md comes from: it must
// run relay and Parley in turn on fresh processes, count both, write its table between
// the markers of the document it is given and nowhere else, and summarise what it
// recorded. A tiny run (20 users, 1 s) against the real binaries and a real stack.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, '..', '..', 'bench', 'pairs.mjs');

// A base port whose neighbours (+0, +10, +11, +20, +40) nothing listens on.
function basePort() {
  return 29000 + 100 * Math.floor(Math.random() * 20);
}

describe('bench/pairs.mjs', () => {
  it('one light pair: relay then Parley, a table between the markers, records that summarise', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pairs-'));
    const doc = path.join(dir, 'doc.md');
    const out = path.join(dir, 'runs.jsonl');
    fs.writeFileSync(doc, 'before\n<!-- pairs:light:begin -->\nold\n<!-- pairs:light:end -->\n<!-- pairs:summary:begin -->\n<!-- pairs:summary:end -->\nafter\n');
    const args = [script, '--scenario', 'light', '--pairs', '1', '--users', '20', '--duration', '1', '--warmup', '1',
      '--bin', process.env.PARLEY_BIN_DIR, '--base-port', String(basePort()), '--run-dir', path.join(dir, 'run'),
      '--out', out, '--doc', doc, '--quiet'];
    const r = await execFileP(process.execPath, args, { timeout: 240000 });
    assert.match(r.stdout, /\| 1 \| \d+ \/ \d+ \| \d+ \/ \d+ \| \*\*[\d.]+×\*\*/, r.stdout);
    const text = fs.readFileSync(doc, 'utf8');
    assert.ok(text.startsWith('before\n<!-- pairs:light:begin -->\n**1,000 msgs/s'), text);
    assert.ok(!text.includes('\nold\n') && text.endsWith('after\n'), text);
    const recs = fs.readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(recs.map((x) => x.server), ['relay', 'parley']);
    for (const x of recs) {
      assert.ok(x.ok, JSON.stringify(x));
      assert.ok(x.r.acked > 0 && x.r.acked === x.r.scheduled, `${x.server}: ${x.r.acked} of ${x.r.scheduled} acked`);
      assert.equal(x.r.deliveries_missing, 0);
      assert.ok(x.whole_cpu_s > 0 && x.window_us > 0, `${x.server}: CPU counted`);
    }
    // Parley's whole-run CPU includes PostgreSQL: its process tree is larger than the relay's one process.
    assert.ok(recs[1].r.cpu_s.postgres > 0, 'PostgreSQL counted in the window');
    await execFileP(process.execPath, [script, '--summarize', out, '--doc', doc], { timeout: 30000 });
    const sum = fs.readFileSync(doc, 'utf8');
    assert.match(sum, /\| 1,000 msgs\/s, rooms of 10: CPU per message \(window\) \| ≤ 1\.5× relay \| [\d.]+ \(/);
    assert.match(sum, /\| sustainable rate, rooms of 2 \| ≥ 0\.9× relay \| not measured/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
