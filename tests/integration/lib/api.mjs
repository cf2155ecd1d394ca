// The server API from a test: requests with a key, and answers checked against the
// OpenAPI document the gateway serves (docs/openapi.json), with a small validator of
// the JSON Schema subset the document uses (type, with lists and null; enum;
// properties; required; items; min/max for numbers, strings and arrays; $ref).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DEFAULT_API_KEY } from './stack.mjs';

export const OPENAPI_PATH = new URL('../../../docs/openapi.json', import.meta.url);
export const openapi = JSON.parse(fs.readFileSync(OPENAPI_PATH, 'utf8'));

// fetch wrapper: {status, headers, body (parsed JSON or null), text}.
export async function api(base, method, path, { body, key = DEFAULT_API_KEY, headers = {}, raw } = {}) {
  const h = { ...headers };
  if (key !== null) h.authorization = `Bearer ${key}`;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const r = await fetch(base + path, { method, headers: h, body: payload });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* left null: the caller asserts on it */
  }
  return { status: r.status, headers: r.headers, body: json, text };
}

function resolve(schema) {
  while (schema && schema.$ref) {
    const parts = schema.$ref.replace(/^#\//, '').split('/');
    schema = parts.reduce((o, k) => o[k], openapi);
  }
  return schema;
}

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (Number.isInteger(v)) return 'integer';
  return typeof v;
}

// Errors of `value` against `schema` (empty: valid).
export function validate(schema, value, where = '$') {
  schema = resolve(schema);
  const errs = [];
  if (!schema) return errs;
  if (schema.type) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(value);
    const ok = types.some((x) => x === t || (x === 'number' && t === 'integer'));
    if (!ok) return [`${where}: ${JSON.stringify(value)?.slice(0, 80)} is not ${types.join('|')}`];
  }
  if (schema.enum && !schema.enum.includes(value)) errs.push(`${where}: ${value} not in ${schema.enum}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errs.push(`${where}: below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errs.push(`${where}: above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errs.push(`${where}: too many items`);
    if (schema.items) value.forEach((v, i) => errs.push(...validate(schema.items, v, `${where}[${i}]`)));
  } else if (value && typeof value === 'object') {
    for (const k of schema.required || []) if (!(k in value)) errs.push(`${where}.${k}: required`);
    for (const [k, s] of Object.entries(schema.properties || {})) {
      if (k in value) errs.push(...validate(s, value[k], `${where}.${k}`));
    }
  }
  return errs;
}

// The OpenAPI operation for a concrete path ("/api/v1/conversations/7/messages").
export function operation(method, path) {
  for (const [tpl, item] of Object.entries(openapi.paths)) {
    const re = new RegExp(`^${tpl.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (re.test(path.split('?')[0]) && item[method.toLowerCase()]) return item[method.toLowerCase()];
  }
  return null;
}

// Assert that an answer is one the document lists for this route, with its schema.
export function assertDocumented(method, path, r) {
  const op = operation(method, path);
  assert.ok(op, `${method} ${path} is not in docs/openapi.json`);
  const resp = resolve(op.responses[String(r.status)]);
  assert.ok(resp, `${method} ${path}: status ${r.status} is not documented (${r.text.slice(0, 200)})`);
  const schema = resp.content?.['application/json']?.schema;
  if (schema) {
    assert.ok(/application\/json/.test(r.headers.get('content-type') || ''), 'JSON content type');
    const errs = validate(schema, r.body);
    assert.deepEqual(errs, [], `${method} ${path} ${r.status}: ${errs.join('; ')}\n${r.text.slice(0, 500)}`);
  }
  return r;
}

// Request and check against the document in one step.
export async function call(base, method, path, opts = {}) {
  return assertDocumented(method, path, await api(base, method, path, opts));
}
