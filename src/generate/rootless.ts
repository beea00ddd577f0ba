// --rootless: what `runc spec --rootless` does to a config (libcontainer/specconv ToRootless), plus
// runc's masked and read-only paths. Applied to the template before the other options, so an option
// that asks for something (a network namespace, cgroup limits, mappings) still gets it.
import { posix } from 'node:path';
import type { GenerateOptions } from './option-table.js';
import type { Spec } from './spec.js';

export const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
];
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export interface RootlessIds { uid: number; gid: number }

/** The effective uid and gid of this process (0 where the platform has none). */
export function currentIds(): RootlessIds {
  return { uid: process.geteuid?.() ?? 0, gid: process.getegid?.() ?? 0 };
}

export function applyRootless(spec: Spec, o: GenerateOptions, ids: RootlessIds = currentIds()): void {
  const linux = (spec.linux ??= {});
  // No network namespace (an unprivileged user cannot configure one); a fresh user namespace.
  linux.namespaces = [...(linux.namespaces ?? []).filter((n) => n.type !== 'network' && n.type !== 'user'), { type: 'user' }];
  // Map the calling user to root, unless the options give mappings of their own.
  if (!o.linuxUidmappings?.length) linux.uidMappings = [{ containerID: 0, hostID: ids.uid, size: 1 }];
  if (!o.linuxGidmappings?.length) linux.gidMappings = [{ containerID: 0, hostID: ids.gid, size: 1 }];
  for (const p of MASKED_PATHS) if (!linux.maskedPaths?.includes(p)) (linux.maskedPaths ??= []).push(p);
  for (const p of READONLY_PATHS) if (!linux.readonlyPaths?.includes(p)) (linux.readonlyPaths ??= []).push(p);
  if (spec.mounts) {
    spec.mounts = spec.mounts.map((m) => {
      // sysfs cannot be mounted without owning the network namespace: bind the host's, read-only.
      if (posix.normalize(m.destination).replace(/(.)\/$/, '$1') === '/sys') {
        return { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] };
      }
      // uid=/gid= name IDs that do not exist in the new user namespace (devpts' gid=5).
      const options = m.options?.filter((opt) => !opt.startsWith('uid=') && !opt.startsWith('gid='));
      return { ...m, ...(options && { options }) };
    });
  }
  // An unprivileged user cannot set up cgroup limits; the options may still add some.
  delete linux.resources;
}
