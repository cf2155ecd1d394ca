#!/usr/bin/env node
// attack.mjs: runs one attack of tests/integration/lib/attacks.mjs against a gateway for
// a while, in a process of its own, so that bench/hostile.mjs can give the attacker a
// lower CPU priority (--attacker-nice): on a real deployment the attacker's CPU is not
// the server's, and on this two-core host it otherwise competes with the stack it
// attacks.
//
//   node bench/attack.mjs --url ws://127.0.0.1:18080/ws --secret s3cret --attack NAME --seconds 10
import { parseArgs } from 'node:util';

const { values: o } = parseArgs({
  options: {
    url: { type: 'string' },
    secret: { type: 'string', default: process.env.JWT_SECRET || '' },
    attack: { type: 'string' },
    seconds: { type: 'string', default: '10' },
  },
});
process.env.PARLEY_TEST_JWT_SECRET = o.secret; // the attackers' tokens
const { attacks } = await import('../tests/integration/lib/attacks.mjs');
const { closeAllClients } = await import('../tests/integration/lib/client.mjs');
const attack = attacks[o.attack];
if (!o.url || !attack) {
  console.error(`attack.mjs: --url and --attack (one of: ${Object.keys(attacks).join('; ')}) are required`);
  process.exit(2);
}
const outcome = await attack(o.url, Date.now() + Number(o.seconds) * 1000).then(() => 0, (e) => e);
await closeAllClients();
if (outcome) console.error(`attack.mjs: ${o.attack}: ${outcome.message}`);
process.exit(0);
