// Process options: user, umask, cwd, args, env and env files, terminal, console size, rlimits, OOM score.
import { readFileSync } from 'node:fs';
import { usageError } from '../errors.js';
import type { GenerateOptions } from './option-table.js';
import type { Process, Spec } from './spec.js';
import { bad, int, keyValue, parts, u32, uint, umask } from './values.js';

export const RLIMIT_TYPES = [
  'AS', 'CORE', 'CPU', 'DATA', 'FSIZE', 'LOCKS', 'MEMLOCK', 'MSGQUEUE', 'NICE', 'NOFILE', 'NPROC', 'RSS', 'RTPRIO', 'RTTIME',
  'SIGPENDING', 'STACK', 'VMEM',
].map((t) => `RLIMIT_${t}`);

/** spec.process, created empty (as runtime-tools' initConfigProcess does) when absent. */
export function processOf(spec: Spec): Process {
  return (spec.process ??= { user: { uid: 0, gid: 0 }, cwd: '/' });
}

function rlimitType(value: string, flag: string): string {
  if (!RLIMIT_TYPES.includes(value)) throw bad(flag, value, `is not an rlimit type (${RLIMIT_TYPES.join(', ')})`);
  return value;
}

/** Set NAME=VALUE, replacing an existing entry for NAME. */
export function setEnv(p: Process, name: string, value: string): void {
  const env = (p.env ??= []);
  const i = env.findIndex((e) => e.split('=', 1)[0] === name);
  if (i >= 0) env[i] = `${name}=${value}`;
  else env.push(`${name}=${value}`);
}

/** Docker's env-file format: KEY=VALUE lines, # comments, a bare KEY takes its value from this environment. */
export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(path));
  } catch (e) {
    throw usageError(`--env-file: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'not valid UTF-8'}`);
  }
  const out: string[] = [];
  for (const raw of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = (eq >= 0 ? line.slice(0, eq) : line).replace(/^[ \t]+/, '');
    if (/[ \t]/.test(name)) throw usageError(`--env-file ${path}: variable '${name}' has white spaces`);
    out.push(eq >= 0 ? `${name}=${line.slice(eq + 1)}` : `${line.trim()}=${process.env[line] ?? ''}`);
  }
  return out;
}

/** User, cwd, args, env, terminal and the other process fields, in runtime-tools' order. */
export function applyProcess(spec: Spec, o: GenerateOptions): void {
  const p = () => processOf(spec);
  if (o.processUid !== undefined) p().user.uid = u32(o.processUid, '--process-uid');
  if (o.processUsername !== undefined) p().user.username = o.processUsername;
  if (o.processUmask !== undefined) p().user.umask = umask(o.processUmask, '--process-umask');
  if (o.processGid !== undefined) p().user.gid = u32(o.processGid, '--process-gid');
  if (o.linuxSelinuxLabel !== undefined) p().selinuxLabel = o.linuxSelinuxLabel;
  if (o.processCwd !== undefined) p().cwd = o.processCwd;
  if (o.linuxApparmor !== undefined) p().apparmorProfile = o.linuxApparmor;
  if (o.processNoNewPrivileges !== undefined) p().noNewPrivileges = o.processNoNewPrivileges;
  if (o.processTerminal !== undefined) p().terminal = o.processTerminal;
  if (o.args !== undefined) {
    if (o.args.length === 0) throw usageError('--args: the command is empty');
    p().args = [...o.args];
  }
  const envs = [...(o.envFile ?? []).flatMap(readEnvFile), ...(o.env ?? [])];
  for (const e of envs) {
    const i = e.indexOf('=');
    if (i < 0) throw usageError(`--env: environment variable must contain '=': ${e}`);
    if (i === 0) throw usageError(`--env: environment variable must have a non-empty name: ${e}`);
    setEnv(p(), e.slice(0, i), e.slice(i + 1));
  }
  for (const g of o.processGroups ?? []) {
    const gid = u32(g, '--process-groups');
    const gids = (p().user.additionalGids ??= []);
    if (!gids.includes(gid)) gids.push(gid);
  }
}

/** --process-consolesize WIDTH:HEIGHT. */
export function applyConsoleSize(spec: Spec, o: GenerateOptions): void {
  if (o.processConsolesize === undefined) return;
  const [w, h] = parts(o.processConsolesize, ':', 2, '--process-consolesize', 'WIDTH:HEIGHT');
  processOf(spec).consoleSize = { height: u32(h!, '--process-consolesize'), width: u32(w!, '--process-consolesize') };
}

export function applyOomScoreAdj(spec: Spec, o: GenerateOptions): void {
  if (o.linuxOomScoreAdj !== undefined) processOf(spec).oomScoreAdj = int(o.linuxOomScoreAdj, '--linux-oom-score-adj', -1000, 1000);
}

/** --process-rlimits-remove-all, then -add TYPE:HARD:SOFT (replacing the same type), then -remove TYPE. */
export function applyRlimits(spec: Spec, o: GenerateOptions): void {
  if (o.processRlimitsRemoveAll && spec.process) spec.process.rlimits = [];
  for (const r of o.processRlimitsAdd ?? []) {
    const flag = '--process-rlimits-add';
    const [type, hardText, softText] = parts(r, ':', 3, flag, 'TYPE:HARD:SOFT');
    const hard = uint(hardText!, flag);
    const soft = uint(softText!, flag);
    if (soft > hard) throw bad(flag, r, 'has a soft limit above the hard limit');
    const rlimits = (processOf(spec).rlimits ??= []);
    const existing = rlimits.find((x) => x.type === rlimitType(type!, flag));
    if (existing) Object.assign(existing, { hard, soft });
    else rlimits.push({ type: type!, hard, soft });
  }
  for (const r of o.processRlimitsRemove ?? []) {
    const type = rlimitType(r, '--process-rlimits-remove');
    const rlimits = spec.process?.rlimits;
    const i = rlimits?.findIndex((x) => x.type === type) ?? -1;
    if (i >= 0) rlimits!.splice(i, 1);
  }
}

/** Annotations from --label KEY=VALUE. */
export function applyLabels(spec: Spec, o: GenerateOptions): void {
  for (const l of o.label ?? []) {
    const [k, v] = keyValue(l, '--label');
    (spec.annotations ??= {})[k] = v;
  }
}
