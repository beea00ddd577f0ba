// Capability options: --privileged, --process-cap-drop-all, and adding or dropping capabilities in
// all five sets or one. Order matters: runtime-tools drops by moving the last entry into the hole.
import { readFileSync } from 'node:fs';
import { usageError } from '../errors.js';
import type { GenerateOptions } from './option-table.js';
import { processOf } from './process.js';
import type { Capabilities, CapabilitySet, Spec } from './spec.js';
import { csv } from './values.js';
import { KNOWN_CAPS } from './names.js';

export { KNOWN_CAPS };


export const CAP_SETS: readonly CapabilitySet[] = ['ambient', 'bounding', 'effective', 'inheritable', 'permitted'];

/** Capabilities this kernel supports (up to /proc/sys/kernel/cap_last_cap). */
export function hostCaps(): string[] {
  try {
    const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
    return Number.isInteger(last) ? KNOWN_CAPS.slice(0, last + 1) : KNOWN_CAPS;
  } catch {
    return KNOWN_CAPS;
  }
}

/** Upper-cased capability name, which must be known (and, host-specific, supported here). */
export function capName(name: string, flag: string, hostSpecific = false): string {
  const cap = name.toUpperCase();
  if (!cap.startsWith('CAP_')) throw usageError(`${flag}: capability ${JSON.stringify(name)} must start with CAP_`);
  if (!KNOWN_CAPS.includes(cap)) throw usageError(`${flag}: ${JSON.stringify(name)} is not a known capability`);
  if (hostSpecific && !hostCaps().includes(cap)) throw usageError(`${flag}: ${cap} is not supported on this host`);
  return cap;
}

function capsOf(spec: Spec): Capabilities {
  return (processOf(spec).capabilities ??= {});
}

function addCap(caps: Capabilities, set: CapabilitySet, cap: string): void {
  const list = (caps[set] ??= []);
  if (!list.some((c) => c.toUpperCase() === cap)) list.push(cap);
}

/** runtime-tools' removal: the last entry fills the hole, so the order changes (golden outputs depend on it). */
function dropCap(caps: Capabilities, set: CapabilitySet, cap: string): void {
  const list = caps[set];
  if (!list) return;
  const arr = [...list];
  let len = arr.length;
  for (let i = 0; i < list.length; i++) {
    if (i < len && arr[i]!.toUpperCase() === cap) {
      arr[i] = arr[len - 1]!;
      len--;
    }
  }
  caps[set] = arr.slice(0, len);
}

const ADD: [keyof GenerateOptions, string, readonly CapabilitySet[]][] = [
  ['processCapAdd', '--process-cap-add', CAP_SETS],
  ...CAP_SETS.map((s): [keyof GenerateOptions, string, CapabilitySet[]] => [`processCapAdd${cap1(s)}` as keyof GenerateOptions, `--process-cap-add-${s}`, [s]]),
];
const DROP: [keyof GenerateOptions, string, readonly CapabilitySet[]][] = [
  ['processCapDrop', '--process-cap-drop', CAP_SETS],
  ...CAP_SETS.map((s): [keyof GenerateOptions, string, CapabilitySet[]] => [`processCapDrop${cap1(s)}` as keyof GenerateOptions, `--process-cap-drop-${s}`, [s]]),
];
function cap1(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** --privileged: every capability in every set, no seccomp, no AppArmor profile or SELinux label. */
export function setupPrivileged(spec: Spec, hostSpecific = false): void {
  spec.linux ??= {};
  const caps = capsOf(spec);
  const all = hostSpecific ? hostCaps() : KNOWN_CAPS;
  for (const set of CAP_SETS) caps[set] = [...all];
  delete spec.process!.selinuxLabel;
  delete spec.process!.apparmorProfile;
  delete spec.linux.seccomp;
}

/** --privileged, --process-cap-drop-all, then the add options, then the drop options. */
export function applyCapabilities(spec: Spec, o: GenerateOptions): void {
  if (o.privileged) setupPrivileged(spec, o.hostSpecific);
  if (o.processCapDropAll && spec.process?.capabilities) {
    for (const set of CAP_SETS) spec.process.capabilities[set] = [];
  }
  for (const [key, flag, sets] of ADD) {
    for (const name of csv(o[key] as string | string[] | undefined)) {
      const cap = capName(name, flag, o.hostSpecific);
      const caps = capsOf(spec);
      // runtime-tools fills the sets in this order: ambient, bounding, effective, inheritable, permitted.
      for (const set of sets) addCap(caps, set, cap);
    }
  }
  for (const [key, flag, sets] of DROP) {
    for (const name of csv(o[key] as string | string[] | undefined)) {
      const cap = capName(name, flag);
      const caps = spec.process?.capabilities;
      if (caps) for (const set of sets) dropCap(caps, set, cap);
    }
  }
}
