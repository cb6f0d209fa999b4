/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_CPU_PROF in
 * bench/run.ts): self time by function, by file and by package (or category:
 * GC, idle, program, node internals), top N (default 30); then inclusive
 * (self + callees) time of functions outside node internals, each counted
 * once per sample, to attribute whole steps (a hook, a Redis command, pino's
 * per-request child logger, socket writes).
 *
 *   node bench/profile-top.ts <file.cpuprofile> [N] [--from-s=<seconds>] [--to-s=<seconds>]
 *
 * --from-s/--to-s keep only the samples taken within that window of the
 * profile's own clock (e.g. to leave out start-up and seeding).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface Node {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
if (!file) throw new Error('usage: node bench/profile-top.ts <file.cpuprofile> [N] [--from-s=] [--to-s=]');
const top = Number(args.find((a) => /^\d+$/.test(a)) ?? 30);
const opt = (name: string) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? undefined : Number(a.split('=')[1]);
};
const fromUs = (opt('from-s') ?? 0) * 1e6;
const toUs = (opt('to-s') ?? Number.POSITIVE_INFINITY) * 1e6;

const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const self = new Map<number, number>();
const inclusive = new Map<string, number>();
let t = 0;
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  t += dt;
  if (t < fromUs || t > toUs) continue;
  const id = profile.samples[i] as number;
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const { functionName, url, lineNumber } = (byId.get(cur) as Node).callFrame;
    if (!functionName || functionName.startsWith('(')) continue;
    const key = `${functionName}  ${where(url).file}:${lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
  }
}

function where(url: string): { file: string; pkg: string } {
  if (!url) return { file: '(native/V8)', pkg: '(native/V8)' };
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length);
    const parts = rest.split('/');
    const pkg = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
    return { file: rest, pkg };
  }
  if (path.startsWith('node:')) return { file: path, pkg: 'node internals' };
  const src = path.indexOf('/src/');
  if (src >= 0) return { file: path.slice(src + 1), pkg: 'parley src' };
  const bench = path.indexOf('/bench/');
  if (bench >= 0) return { file: path.slice(bench + 1), pkg: 'parley bench' };
  return { file: path, pkg: path };
}

const fn = new Map<string, number>();
const files = new Map<string, number>();
const pkgs = new Map<string, number>();
const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
for (const [id, us] of self) {
  const node = byId.get(id) as Node;
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (name === '(garbage collector)' || name === '(idle)' || name === '(program)' || name === '(root)') {
    add(fn, name, us);
    add(files, name, us);
    add(pkgs, name, us);
    continue;
  }
  const w = where(url);
  add(fn, `${name}  ${w.file}:${lineNumber + 1}`, us);
  add(files, w.file, us);
  add(pkgs, w.pkg, us);
}
const idle = fn.get('(idle)') ?? 0;
const busy = total - idle;

function print(title: string, m: Map<string, number>): void {
  process.stdout.write(`\n${title} — self time, % of busy (non-idle) samples\n`);
  const rows = [...m]
    .filter(([k]) => k !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);
  for (const [k, us] of rows) {
    process.stdout.write(
      `${((100 * us) / busy).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`,
    );
  }
}
process.stdout.write(
  `${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy, ${(idle / 1e6).toFixed(1)} s idle\n`,
);
print('By package / category', pkgs);
print('By file', files);
print('By function', fn);
const skip =
  /^(processTicksAndRejections|processImmediate|runMicrotasks|listOnTimeout|processTimers|emit|onStreamRead|parserOnIncoming|parserOnHeadersComplete|callHandler|lookup|routeHandler|runPreParsing|handleResolve|next|hookRunnerGenerator|hookIterator|wrapOnSendEnd|onSendEnd|onSendHook|send|_write|write|writeOrBuffer|doWrite|clearBuffer|end|writeGeneric|handleWriteReq|Socket\._write.*|Writable\..*|Readable\..*|addChunk|readableAddChunk.*|onread|socketOnData|processResponse) {2}/;
print(
  'Inclusive (self + callees), event-loop and stream plumbing left out',
  new Map([...inclusive].filter(([k]) => !skip.test(k))),
);
