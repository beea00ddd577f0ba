// Linux options outside cgroup resources: namespaces and ID mappings, devices and device cgroup rules,
// masked and read-only paths, sysctls, cgroups path, mount label, rootfs propagation.
import type { GenerateOptions } from './option-table.js';
import type { Device, DeviceCgroup, IDMapping, Linux, Resources, Spec } from './spec.js';
import { absolute, bad, fileMode, int, oneOf, parts, u32 } from './values.js';

export const NAMESPACES = ['network', 'pid', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
const PROPAGATIONS = ['', 'private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'unbindable', 'runbindable'];

export const linuxOf = (spec: Spec): Linux => (spec.linux ??= {});
export const resourcesOf = (spec: Spec): Resources => (linuxOf(spec).resources ??= {});

/** Add a namespace, or replace the one of the same type (its path too). */
export function addNamespace(spec: Spec, type: string, path: string, flag: string): void {
  oneOf(type, NAMESPACES, flag);
  const list = (linuxOf(spec).namespaces ??= []);
  const ns = path ? { type, path } : { type };
  const i = list.findIndex((n) => n.type === type);
  if (i >= 0) list[i] = ns;
  else list.push(ns);
}

function idMapping(value: string, flag: string): IDMapping {
  const [host, container, size] = parts(value, ':', 3, flag, 'HOSTID:CONTAINERID:SIZE');
  const mapping = { containerID: u32(container!, flag), hostID: u32(host!, flag), size: u32(size!, flag) };
  if (mapping.size === 0) throw bad(flag, value, 'maps no IDs (size 0)');
  return mapping;
}

/** ID mappings (which imply a user namespace), then --linux-namespace-remove-all, -add, -remove. */
export function applyNamespaces(spec: Spec, o: GenerateOptions): void {
  const uid = (o.linuxUidmappings ?? []).map((m) => idMapping(m, '--linux-uidmappings'));
  const gid = (o.linuxGidmappings ?? []).map((m) => idMapping(m, '--linux-gidmappings'));
  if (uid.length > 0 || gid.length > 0) addNamespace(spec, 'user', '', '--linux-uidmappings');
  if (uid.length > 0) (linuxOf(spec).uidMappings ??= []).push(...uid);
  if (gid.length > 0) (linuxOf(spec).gidMappings ??= []).push(...gid);
  if (o.linuxNamespaceRemoveAll && spec.linux) spec.linux.namespaces = [];
  for (const ns of o.linuxNamespaceAdd ?? []) {
    const i = ns.indexOf(':');
    addNamespace(spec, i < 0 ? ns : ns.slice(0, i), i < 0 ? '' : ns.slice(i + 1), '--linux-namespace-add');
  }
  for (const ns of o.linuxNamespaceRemove ?? []) {
    oneOf(ns, NAMESPACES, '--linux-namespace-remove');
    const list = spec.linux?.namespaces;
    const i = list?.findIndex((n) => n.type === ns) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }
}

/** TYPE:MAJOR:MINOR:PATH[:fileMode=M][:uid=U][:gid=G]. */
export function parseDevice(value: string, flag = '--linux-device-add'): Device {
  const p = value.split(':');
  if (p.length < 4) throw bad(flag, value, 'is not TYPE:MAJOR:MINOR:PATH[:fileMode=M][:uid=U][:gid=G]');
  const [type, major, minor, path] = p as [string, string, string, string];
  const dev: Device = {
    path: absolute(path, flag), type: oneOf(type, ['b', 'c', 'u', 'p'], flag),
    major: int(major, flag, 0), minor: int(minor, flag, 0),
  };
  for (const opt of p.slice(4)) {
    const eq = opt.indexOf('=');
    const [name, v] = [opt.slice(0, eq), opt.slice(eq + 1)];
    if (eq < 0 || !['fileMode', 'uid', 'gid'].includes(name)) throw bad(flag, opt, 'is not fileMode=M, uid=U or gid=G');
    if (name === 'fileMode') dev.fileMode = fileMode(v, flag);
    else dev[name as 'uid' | 'gid'] = u32(v, flag);
  }
  return dev;
}

/** allow|deny[,type=a|b|c][,major=N][,minor=N][,access=rwm]. */
export function parseDeviceCgroup(value: string, flag: string): DeviceCgroup {
  const [head, ...rest] = value.split(',');
  if (head !== 'allow' && head !== 'deny') throw bad(flag, value, "does not start with 'allow' or 'deny'");
  const rule: DeviceCgroup = { allow: head === 'allow' };
  for (const raw of rest) {
    const s = raw.trim();
    if (s === '') continue;
    const eq = s.indexOf('=');
    const [k, v] = [s.slice(0, eq), s.slice(eq + 1)];
    if (eq < 0) throw bad(flag, s, 'is not KEY=VALUE');
    if (k === 'type') rule.type = oneOf(v, ['a', 'b', 'c'], flag);
    else if (k === 'major' || k === 'minor') rule[k] = int(v, flag, 0);
    else if (k === 'access') {
      if (!/^[rwm]+$/.test(v)) throw bad(flag, v, 'is not an access of r, w and m');
      rule.access = v;
    } else throw bad(flag, s, 'is not type=, major=, minor= or access=');
  }
  return rule;
}

const sameRule = (a: DeviceCgroup, b: DeviceCgroup) =>
  a.allow === b.allow && (a.type ?? '') === (b.type ?? '') && (a.access ?? '') === (b.access ?? '') && a.major === b.major && a.minor === b.minor;

/** Cgroups path, masked paths, device cgroup rules, read-only paths, mount label, sysctls. */
export function applyLinuxPaths(spec: Spec, o: GenerateOptions): void {
  if (o.linuxCgroupsPath !== undefined) linuxOf(spec).cgroupsPath = o.linuxCgroupsPath;
  for (const p of o.linuxMaskedPaths ?? []) (linuxOf(spec).maskedPaths ??= []).push(absolute(p, '--linux-masked-paths'));
  for (const d of o.linuxDeviceCgroupAdd ?? []) {
    const rule = parseDeviceCgroup(d, '--linux-device-cgroup-add');
    (resourcesOf(spec).devices ??= []).push(rule);
  }
  for (const d of o.linuxDeviceCgroupRemove ?? []) {
    const rule = parseDeviceCgroup(d, '--linux-device-cgroup-remove');
    const list = spec.linux?.resources?.devices;
    const i = list?.findIndex((r) => sameRule(r, rule)) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }
  for (const p of o.linuxReadonlyPaths ?? []) (linuxOf(spec).readonlyPaths ??= []).push(absolute(p, '--linux-readonly-paths'));
  if (o.linuxMountLabel !== undefined) linuxOf(spec).mountLabel = o.linuxMountLabel;
  for (const s of o.linuxSysctl ?? []) {
    const [k, v] = parts(s, '=', 2, '--linux-sysctl', 'KEY=VALUE');
    if (!k) throw bad('--linux-sysctl', s, 'has no key');
    (linuxOf(spec).sysctl ??= {})[k] = v!;
  }
}

export function applyRootfsPropagation(spec: Spec, o: GenerateOptions): void {
  if (o.linuxRootfsPropagation !== undefined) {
    linuxOf(spec).rootfsPropagation = oneOf(o.linuxRootfsPropagation, PROPAGATIONS, '--linux-rootfs-propagation');
  }
}

/** --linux-device-remove-all, then -add (replacing the device at the same path), then -remove. */
export function applyDevices(spec: Spec, o: GenerateOptions): void {
  if (o.linuxDeviceRemoveAll && spec.linux?.devices) spec.linux.devices = [];
  for (const d of o.linuxDeviceAdd ?? []) {
    const dev = parseDevice(d);
    const list = (linuxOf(spec).devices ??= []);
    const i = list.findIndex((x) => x.path === dev.path);
    if (i >= 0) list[i] = dev;
    else list.push(dev);
  }
  for (const path of o.linuxDeviceRemove ?? []) {
    const list = spec.linux?.devices;
    const i = list?.findIndex((x) => x.path === path) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }
}
