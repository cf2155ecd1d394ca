// faults.mjs: the fault kinds of a chaos round. Each inject() does the damage and
// returns {target, heal}: heal() undoes it (restart, SIGCONT, start PostgreSQL, mend
// the network) and resolves once the stack is whole again.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

// kill -9 of one instance of these kinds; brokers are as many as the stack has.
export const KILL_KINDS = ['gateway', 'broker', 'chat', 'presence', 'call'];
export const FAULT_KINDS = [...KILL_KINDS, 'stop', 'pg', 'net'];

// How long a fault lasts before heal() (ms, [lo, hi]).
export const DURATION_MS = {
  gateway: [300, 3000],
  broker: [300, 3000],
  chat: [300, 3000],
  presence: [300, 3000],
  call: [300, 3000],
  stop: [1000, 5000],
  pg: [1000, 4000],
  net: [1000, 4000],
};

function namesOf(stack, kind) {
  return [...stack.procs.values()].filter((p) => kind === '*' || p.kind === kind).map((p) => p.name);
}

// Where a fault of `kind` may land, for the schedule (computed once, from the stack).
export function targetsOf(stack, kind) {
  if (KILL_KINDS.includes(kind)) return namesOf(stack, kind);
  if (kind === 'stop') return namesOf(stack, '*');
  return ['postgres'];
}

async function respawn(stack, name) {
  const p = stack.procs.get(name);
  if (!p.running) stack._spawn(p);
}

export async function inject(ctx, kind, target) {
  const { stack } = ctx;
  if (KILL_KINDS.includes(kind)) {
    await stack.kill(target, 'SIGKILL');
    return { what: `kill -9 ${target}`, heal: () => respawn(stack, target) };
  }
  if (kind === 'stop') {
    const p = stack.procs.get(target);
    stack.log(`chaos sends SIGSTOP to ${target}`);
    p.child.kill('SIGSTOP');
    return {
      what: `SIGSTOP ${target}`,
      heal: async () => {
        stack.log(`chaos sends SIGCONT to ${target}`);
        p.child.kill('SIGCONT');
      },
    };
  }
  if (kind === 'pg') {
    stack.log('chaos stops PostgreSQL -m immediate');
    await execFileP(ctx.pgSh, ['crash', ctx.pgDir], { timeout: 60000 });
    return {
      what: 'PostgreSQL stop -m immediate',
      down: true,
      heal: async () => {
        stack.log('chaos starts PostgreSQL');
        await execFileP(ctx.pgSh, ['start', ctx.pgDir, String(ctx.pgPort)], { timeout: 120000 });
      },
    };
  }
  if (kind === 'net') {
    stack.log('chaos cuts the network to PostgreSQL');
    ctx.proxy.cut();
    return {
      what: 'network to PostgreSQL cut',
      heal: async () => {
        stack.log('chaos mends the network to PostgreSQL');
        ctx.proxy.heal();
      },
    };
  }
  throw new Error(`unknown fault kind ${kind}`);
}
