// Seccomp options: default action, architectures, per-action syscall rules (merged into existing rules
// the way runtime-tools' decideCourseOfAction does), removal, and the v1.3 flags and listener.
import { usageError } from '../errors.js';
import type { GenerateOptions } from './option-table.js';
import type { SeccompArg, Seccomp, Spec, Syscall } from './spec.js';
import { bad, csv, int, uint } from './values.js';

const ACTIONS: Record<string, string> = {
  allow: 'SCMP_ACT_ALLOW', errno: 'SCMP_ACT_ERRNO', kill: 'SCMP_ACT_KILL', trace: 'SCMP_ACT_TRACE', trap: 'SCMP_ACT_TRAP',
  notify: 'SCMP_ACT_NOTIFY', log: 'SCMP_ACT_LOG', 'kill-process': 'SCMP_ACT_KILL_PROCESS', 'kill-thread': 'SCMP_ACT_KILL_THREAD',
};

const ARCHES: Record<string, string> = {
  x86: 'X86', amd64: 'X86_64', x32: 'X32', arm: 'ARM', arm64: 'AARCH64', mips: 'MIPS', mips64: 'MIPS64', mips64n32: 'MIPS64N32',
  mipsel: 'MIPSEL', mipsel64: 'MIPSEL64', mipsel64n32: 'MIPSEL64N32', parisc: 'PARISC', parisc64: 'PARISC64', ppc: 'PPC',
  ppc64: 'PPC64', ppc64le: 'PPC64LE', s390: 'S390', s390x: 'S390X',
  // runtime-spec v1.3 architectures runtime-tools does not know
  riscv64: 'RISCV64', loongarch64: 'LOONGARCH64', m68k: 'M68K', sh: 'SH', sheb: 'SHEB',
};

const OPERATORS: Record<string, string> = { NE: 'NE', LT: 'LT', LE: 'LE', EQ: 'EQ', GE: 'GE', GT: 'GT', ME: 'MASKED_EQ' };
const FLAGS = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'];

/** Short action name (allow, errno, kill, trace, trap, notify, log, kill-process, kill-thread) or SCMP_ACT_*. */
export function parseAction(name: string, flag: string): string {
  const full = ACTIONS[name.toLowerCase().replace('_', '-')] ?? (Object.values(ACTIONS).includes(name) ? name : undefined);
  if (!full) throw bad(flag, name, `is not a seccomp action (${Object.keys(ACTIONS).join(', ')})`);
  return full;
}

export function parseArch(name: string, flag: string): string {
  const short = ARCHES[name] ?? (name.startsWith('SCMP_ARCH_') && Object.values(ARCHES).includes(name.slice(10)) ? name.slice(10) : undefined);
  if (!short) throw bad(flag, name, `is not a seccomp architecture (${Object.keys(ARCHES).join(', ')})`);
  return `SCMP_ARCH_${short}`;
}

/** `name` or `name:index:value:valueTwo:op`; the args list is [] (not absent) when there are none, as in runtime-tools. */
function parseRule(text: string, action: string, flag: string): Syscall {
  const p = text.split(':');
  if (p.length !== 1 && p.length !== 5) throw bad(flag, text, 'is not a syscall or syscall:index:value:valueTwo:op');
  const [name, index, value, valueTwo, op] = p as [string, ...string[]];
  if (!/^[a-z0-9_]+$/i.test(name)) throw bad(flag, text, 'does not start with a syscall name');
  if (p.length === 1) return { names: [name], action, args: [] };
  const opName = op!.replace(/^SCMP_CMP_/, '');
  const full = OPERATORS[opName] ?? (opName === 'MASKED_EQ' ? opName : undefined);
  if (!full) throw bad(flag, text, `has an unknown operator ${JSON.stringify(op)} (${Object.keys(OPERATORS).join(', ')})`);
  const arg: SeccompArg = { index: int(index!, flag, 0, 5), value: uint(value!, flag), valueTwo: uint(valueTwo!, flag), op: `SCMP_CMP_${full}` };
  return { names: [name], action, args: [arg] };
}

const hasArgs = (r: Syscall) => Array.isArray(r.args);
const argEqual = (a: SeccompArg, b: SeccompArg) => a.index === b.index && a.value === b.value && (a.valueTwo ?? 0) === (b.valueTwo ?? 0) && a.op === b.op;
// reflect.DeepEqual: an absent list differs from an empty one.
const sameArgs = (a: Syscall, b: Syscall) => hasArgs(a) === hasArgs(b) && (!hasArgs(a) || (a.args!.length === b.args!.length && a.args!.every((x, i) => argEqual(x, b.args![i]!))));
const sameNames = (a: Syscall, b: Syscall) => a.names.length === b.names.length && a.names.every((n, i) => n === b.names[i]);
const identical = (a: Syscall, b: Syscall) => sameNames(a, b) && a.action === b.action && (a.errnoRet ?? null) === (b.errnoRet ?? null) && sameArgs(a, b);

/** runtime-tools' decideCourseOfAction: 'nothing' beats the first overwrite, which beats append. */
function decide(rule: Syscall, rules: Syscall[]): 'nothing' | 'append' | number {
  const found: ('nothing' | 'append' | number)[] = [];
  rules.forEach((r, i) => {
    if (!sameNames(r, rule)) return;
    if (identical(rule, r)) found.push('nothing');
    const both = hasArgs(rule) && hasArgs(r);
    const one = hasArgs(rule) !== hasArgs(r);
    if (r.action === rule.action) {
      if (both) found.push('append');
      if (one) found.push(!hasArgs(rule) ? i : 'nothing');
    } else {
      if (both) found.push(sameArgs(rule, r) ? i : 'append');
      if (one) found.push('append');
      if (!hasArgs(rule) && !hasArgs(r)) found.push(i);
    }
  });
  if (found.length === 0) return 'append';
  if (found.includes('nothing')) return 'nothing';
  return found.find((d) => typeof d === 'number') ?? 'append';
}

function addRule(sc: Seccomp, rule: Syscall): void {
  if (rule.action === sc.defaultAction && rule.args!.length === 0) return; // the default already does it
  const rules = (sc.syscalls ??= []);
  const d = decide(rule, rules);
  if (d === 'append') rules.push(rule);
  else if (typeof d === 'number') rules[d] = rule;
}

/** Rules for one action option; like runtime-tools, each new entry re-applies the ones before it. */
export function setSyscallAction(sc: Seccomp, action: string, entries: string[], flag: string): void {
  const done: Syscall[] = [];
  for (const e of entries) {
    done.push(parseRule(e, action, flag));
    for (const r of done) addRule(sc, structuredClone(r));
  }
}

/** Remove every rule whose names are exactly `names`. */
export function removeRule(sc: Seccomp, names: string[]): void {
  if (sc.syscalls) sc.syscalls = sc.syscalls.filter((r) => !(r.names.length === names.length && r.names.every((n, i) => n === names[i])));
}

function seccompOf(spec: Spec): Seccomp {
  const linux = (spec.linux ??= {});
  return (linux.seccomp ??= { defaultAction: '' });
}

const PER_ACTION: [keyof GenerateOptions, string][] = [
  ['linuxSeccompErrno', 'errno'], ['linuxSeccompKill', 'kill'], ['linuxSeccompTrace', 'trace'], ['linuxSeccompTrap', 'trap'],
  ['linuxSeccompAllow', 'allow'], ['linuxSeccompNotify', 'notify'], ['linuxSeccompLog', 'log'],
  ['linuxSeccompKillProcess', 'kill-process'], ['linuxSeccompKillThread', 'kill-thread'],
];

/** The seccomp options, in runtime-tools' order. */
export function applySeccomp(spec: Spec, o: GenerateOptions): void {
  if (o.linuxSeccompRemoveAll) seccompOf(spec).syscalls = [];
  if (o.linuxSeccompDefault !== undefined && o.linuxSeccompDefaultForce !== undefined) {
    throw usageError('--linux-seccomp-default and --linux-seccomp-default-force exclude each other');
  }
  if (o.linuxSeccompDefault !== undefined) {
    const sc = seccompOf(spec);
    sc.defaultAction = parseAction(o.linuxSeccompDefault, '--linux-seccomp-default');
    if (sc.syscalls) sc.syscalls = sc.syscalls.filter((r) => r.action !== sc.defaultAction);
  } else if (o.linuxSeccompDefaultForce !== undefined) {
    seccompOf(spec).defaultAction = parseAction(o.linuxSeccompDefaultForce, '--linux-seccomp-default-force');
  }
  if (o.linuxSeccompDefaultErrnoRet !== undefined) {
    seccompOf(spec).defaultErrnoRet = uint(o.linuxSeccompDefaultErrnoRet, '--linux-seccomp-default-errno-ret', 4095);
  }
  for (const a of csv(o.linuxSeccompArch)) {
    const arch = parseArch(a, '--linux-seccomp-arch');
    const list = (seccompOf(spec).architectures ??= []);
    if (!list.includes(arch)) list.push(arch);
  }
  for (const [key, name] of PER_ACTION) {
    const entries = csv(o[key] as string | string[] | undefined);
    if (entries.length > 0) setSyscallAction(seccompOf(spec), ACTIONS[name]!, entries, `--linux-seccomp-${name}`);
  }
  for (const r of o.linuxSeccompRemove ?? []) removeRule(seccompOf(spec), r.split(','));
  for (const f of csv(o.linuxSeccompFlags)) {
    if (!FLAGS.includes(f)) throw bad('--linux-seccomp-flags', f, `is not one of ${FLAGS.join(', ')}`);
    const list = (seccompOf(spec).flags ??= []);
    if (!list.includes(f)) list.push(f);
  }
  if (o.linuxSeccompListenerPath !== undefined) seccompOf(spec).listenerPath = o.linuxSeccompListenerPath;
  if (o.linuxSeccompListenerMetadata !== undefined) {
    const sc = seccompOf(spec);
    if (!sc.listenerPath) throw usageError('--linux-seccomp-listener-metadata needs --linux-seccomp-listener-path');
    sc.listenerMetadata = o.linuxSeccompListenerMetadata;
  }
}
