// prom.mjs: reading Prometheus text exposition (/metrics) in tests.
import assert from 'node:assert/strict';
import { httpGet } from './client.mjs';

// Prometheus text → {samples: [{name, labels: {}, value}], types: {name: type}}; fails the
// test on a line that is not valid exposition format.
export function parseProm(text) {
  const samples = [];
  const types = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const t = line.match(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/);
    if (t) {
      types[t[1]] = t[2];
      continue;
    }
    if (line.startsWith('#')) continue; // HELP and comments
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([-+]?[0-9.eE+-]+|NaN|[+-]Inf)( -?[0-9]+)?$/);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels = {};
    for (const l of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

// The samples named name whose labels include every key/value of labels.
export const pick = (samples, name, labels = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

// The sum of those samples.
export const value = (samples, name, labels) => pick(samples, name, labels).reduce((a, s) => a + s.value, 0);

// GET base + /metrics, checked to be 200 text/plain, parsed.
export async function scrape(base) {
  const r = await httpGet(base, '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') || '', /^text\/plain/);
  return { ...parseProm(r.body), body: r.body };
}

// Sum and count of a service's batch-size histogram, from its /metrics on
// 127.0.0.1:port: how many requests its batches held, and how many batches.
export async function batchSizes(port) {
  const { samples } = await scrape(`http://127.0.0.1:${port}`);
  return { sum: value(samples, 'parley_service_batch_size_sum'), count: value(samples, 'parley_service_batch_size_count') };
}
