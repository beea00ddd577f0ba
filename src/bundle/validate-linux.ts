// Semantic rules for config.json's linux section (after runtime-tools' validate_linux.go and
// config-linux.md). A namespace counts as present when listed, new or joined by path: offline we
// cannot tell whether a path is the host's namespace. Mappings and time offsets need a new one.
import {
  DEVICE_TYPES, NAMESPACES, ROOTFS_PROPAGATION, SECCOMP_ACTIONS, SECCOMP_ARCHES, SECCOMP_FLAGS, SECCOMP_OPS, sysctlNamespaces,
} from './validate-names.js';
import { checkSelinuxLabel, type BundleContext } from './validate-config.js';
import { asArray, asObject, pointer, quote, type AddProblem, type Json } from './validate-report.js';

/** linux.namespaces by type; `created` when an entry has no path. */
export function namespacesOf(config: Json): Map<string, { created: boolean }> {
  const out = new Map<string, { created: boolean }>();
  for (const entry of asArray(asObject(config.linux)?.namespaces)) {
    const ns = asObject(entry);
    if (!ns || typeof ns.type !== 'string') continue;
    const created = ns.path === undefined || ns.path === '';
    out.set(ns.type, { created: created || (out.get(ns.type)?.created ?? false) });
  }
  return out;
}

export function checkLinux(ctx: BundleContext): void {
  const linux = asObject(ctx.config.linux);
  if (!linux) return;
  const { add, namespaces } = ctx;
  checkNamespaces(asArray(linux.namespaces), add);
  for (const key of ['uidMappings', 'gidMappings']) {
    if (asArray(linux[key]).length > 0 && !namespaces.get('user')?.created) {
      add(`/linux/${key}`, 'linux.idMappings.userNamespace', `${key} need a new user namespace (one without a path) in /linux/namespaces`);
    }
  }
  if (Object.keys(asObject(linux.timeOffsets) ?? {}).length > 0 && !namespaces.get('time')?.created) {
    add('/linux/timeOffsets', 'linux.timeOffsets.timeNamespace', 'timeOffsets need a new time namespace (one without a path) in /linux/namespaces');
  }
  checkDevices(asArray(linux.devices), add);
  for (const key of Object.keys(asObject(linux.sysctl) ?? {})) {
    const missing = sysctlNamespaces(key).filter((ns) => !namespaces.has(ns));
    if (missing.length === 0) continue;
    const what = `${missing.join(' and ')} namespace${missing.length > 1 ? 's' : ''}`;
    add(pointer('linux', 'sysctl', key), 'linux.sysctl.namespace', `${key} needs the ${what} listed in /linux/namespaces`);
  }
  for (const key of ['maskedPaths', 'readonlyPaths']) {
    asArray(linux[key]).forEach((p, i) => {
      if (typeof p === 'string' && !p.startsWith('/')) add(`/linux/${key}/${i}`, `linux.${key}.absolute`, `${quote(p)} is not an absolute path`);
    });
  }
  const propagation = linux.rootfsPropagation;
  if (typeof propagation === 'string' && !ROOTFS_PROPAGATION.has(propagation)) {
    add('/linux/rootfsPropagation', 'linux.rootfsPropagation', `${quote(propagation)} is not one of ${[...ROOTFS_PROPAGATION].join(', ')}`);
  }
  checkSeccomp(asObject(linux.seccomp), add);
  const cgroups = linux.cgroupsPath;
  // config-linux.md: absolute or relative; an empty or multi-line value is neither.
  if (typeof cgroups === 'string' && (cgroups === '' || /\p{Cc}/u.test(cgroups))) {
    add('/linux/cgroupsPath', 'linux.cgroupsPath.format', `${quote(cgroups)} is not a cgroup path`);
  }
  checkResources(asObject(linux.resources), add);
  checkSelinuxLabel(linux.mountLabel, '/linux/mountLabel', 'linux.mountLabel.format', add);
}

function checkNamespaces(list: readonly unknown[], add: AddProblem): void {
  const first = new Map<string, number>();
  list.forEach((entry, i) => {
    const ns = asObject(entry);
    if (!ns) return;
    const at = pointer('linux', 'namespaces', i);
    if (typeof ns.type === 'string') {
      if (!NAMESPACES.has(ns.type)) add(`${at}/type`, 'linux.namespaces.type', `${quote(ns.type)} is not one of ${[...NAMESPACES].join(', ')}`);
      const j = first.get(ns.type);
      if (j !== undefined) add(`${at}/type`, 'linux.namespaces.unique', `${ns.type} is already listed at /linux/namespaces/${j}`);
      else first.set(ns.type, i);
    }
    if (typeof ns.path === 'string' && ns.path !== '' && !ns.path.startsWith('/')) {
      add(`${at}/path`, 'linux.namespaces.path.absolute', `${quote(ns.path)} is not an absolute path`);
    }
  });
}

const isDeviceNumber = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function checkDevices(list: readonly unknown[], add: AddProblem): void {
  const paths = new Map<string, number>();
  list.forEach((entry, i) => {
    const dev = asObject(entry);
    if (!dev) return;
    const at = pointer('linux', 'devices', i);
    const type = dev.type;
    if (typeof type === 'string' && !DEVICE_TYPES.has(type)) add(`${at}/type`, 'linux.devices.type', `${quote(type)} is not one of c, b, u, p`);
    for (const key of ['major', 'minor']) {
      const v = dev[key];
      const wrong = type === 'p' ? v !== undefined && v !== 0 : DEVICE_TYPES.has(String(type)) && !isDeviceNumber(v);
      if (wrong) {
        const msg = type === 'p' ? 'must be 0 or absent for a FIFO' : `is required for a ${String(type)} device (a non-negative integer)`;
        add(`${at}/${key}`, 'linux.devices.number', msg);
      }
    }
    if (typeof dev.path !== 'string') return;
    if (!dev.path.startsWith('/')) add(`${at}/path`, 'linux.devices.path.absolute', `${quote(dev.path)} is not an absolute path`);
    const j = paths.get(dev.path);
    if (j !== undefined) add(`${at}/path`, 'linux.devices.unique', `${quote(dev.path)} is already created by /linux/devices/${j}`);
    else paths.set(dev.path, i);
  });
}

function checkSeccomp(seccomp: Json | undefined, add: AddProblem): void {
  if (!seccomp) return;
  const known = (set: ReadonlySet<string>, v: unknown) => typeof v !== 'string' || set.has(v);
  if (!known(SECCOMP_ACTIONS, seccomp.defaultAction)) {
    add('/linux/seccomp/defaultAction', 'linux.seccomp.defaultAction', `${quote(seccomp.defaultAction)} is not a seccomp action (SCMP_ACT_*)`);
  }
  asArray(seccomp.architectures).forEach((a, i) => {
    if (!known(SECCOMP_ARCHES, a)) add(`/linux/seccomp/architectures/${i}`, 'linux.seccomp.architectures', `${quote(a)} is not a seccomp architecture (SCMP_ARCH_*)`);
  });
  asArray(seccomp.flags).forEach((f, i) => {
    if (!known(SECCOMP_FLAGS, f)) add(`/linux/seccomp/flags/${i}`, 'linux.seccomp.flags', `${quote(f)} is not a seccomp filter flag`);
  });
  asArray(seccomp.syscalls).forEach((s, i) => {
    const sc = asObject(s);
    if (!sc) return;
    const at = `/linux/seccomp/syscalls/${i}`;
    if (!known(SECCOMP_ACTIONS, sc.action)) add(`${at}/action`, 'linux.seccomp.syscalls.action', `${quote(sc.action)} is not a seccomp action (SCMP_ACT_*)`);
    if (Array.isArray(sc.names) && sc.names.length === 0) add(`${at}/names`, 'linux.seccomp.syscalls.names', 'must name at least one system call');
    asArray(sc.args).forEach((a, j) => {
      const op = asObject(a)?.op;
      if (!known(SECCOMP_OPS, op)) add(`${at}/args/${j}/op`, 'linux.seccomp.syscalls.op', `${quote(op)} is not a seccomp comparison (SCMP_CMP_*)`);
    });
  });
}

function checkResources(resources: Json | undefined, add: AddProblem): void {
  if (!resources) return;
  const memory = asObject(resources.memory);
  // -1 means unlimited; only two real limits can contradict each other.
  const limit = (v: unknown) => (typeof v === 'number' && v > 0 ? v : undefined);
  const [mem, swap, reservation] = [limit(memory?.limit), limit(memory?.swap), limit(memory?.reservation)];
  if (mem !== undefined && swap !== undefined && swap < mem) {
    add('/linux/resources/memory/swap', 'linux.resources.memory.swap', `memory+swap limit ${swap} is below the memory limit ${mem}`);
  }
  if (mem !== undefined && reservation !== undefined && reservation > mem) {
    add('/linux/resources/memory/reservation', 'linux.resources.memory.reservation', `reservation ${reservation} is above the memory limit ${mem}`);
  }
  asArray(resources.devices).forEach((d, i) => {
    const dev = asObject(d);
    const at = `/linux/resources/devices/${i}`;
    if (typeof dev?.type === 'string' && !['a', 'b', 'c'].includes(dev.type)) add(`${at}/type`, 'linux.resources.devices.type', `${quote(dev.type)} is not one of a, b, c`);
    if (typeof dev?.access === 'string' && !/^[rwm]*$/.test(dev.access)) add(`${at}/access`, 'linux.resources.devices.access', `${quote(dev.access)} is not a combination of r, w and m`);
  });
}
