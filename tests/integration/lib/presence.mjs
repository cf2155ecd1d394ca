// presence.mjs: presence helpers shared by the presence tests.
import assert from 'node:assert/strict';

// A frame matcher: a frame of `type` about user `who`, with every key/value of extra.
export const about = (who, type, extra = {}) => (f) =>
  f && f.type === type && f.user_id === who && Object.entries(extra).every(([k, v]) => f[k] === v);

// get_presence of one user, asked by client; the presence entry.
export async function presenceOf(client, who) {
  const f = await client.request({ type: 'get_presence', user_ids: [who] });
  assert.equal(f.type, 'presence', JSON.stringify(f));
  assert.equal(f.users.length, 1);
  return f.users[0];
}
