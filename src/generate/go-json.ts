// The runtime-spec Go structs as data: field order, JSON kinds and `omitempty`. Used to write a config
// the way runtime-tools' encoding/json does (field order, empty values dropped, required zeros kept)
// and to decode JSON option values (--mounts-add, --hooks-*-add, …) strictly.
import { bad } from './values.js';

// Kinds: s b i u (int sign), *x pointer, []x slice, {x} map of string to x, any, or a struct name.
// `name?` marks omitempty.
const STRUCTS_SRC: Record<string, string> = {
  Spec: 'ociVersion s, process? *Process, root? *Root, hostname? s, domainname? s, mounts? []Mount, hooks? *Hooks, annotations? {s}, linux? *Linux, solaris? *Solaris, windows? *Windows, vm? *VM, zos? *ZOS, freebsd? *FreeBSD',
  Process: 'terminal? b, consoleSize? *Box, user User, args? []s, commandLine? s, env? []s, cwd s, capabilities? *Capabilities, rlimits? []Rlimit, noNewPrivileges? b, apparmorProfile? s, oomScoreAdj? *i, scheduler? *Scheduler, selinuxLabel? s, ioPriority? *IOPriority, execCPUAffinity? *CPUAffinity',
  Box: 'height u, width u',
  User: 'uid u, gid u, umask? *u, additionalGids? []u, username? s',
  Capabilities: 'bounding? []s, effective? []s, inheritable? []s, permitted? []s, ambient? []s',
  Rlimit: 'type s, hard u, soft u',
  Scheduler: 'policy s, nice? i, priority? i, flags? []s, runtime? u, deadline? u, period? u',
  IOPriority: 'class s, priority i',
  CPUAffinity: 'initial? s, final? s',
  Root: 'path s, readonly? b',
  Mount: 'destination s, type? s, source? s, options? []s, uidMappings? []IDMapping, gidMappings? []IDMapping',
  Hook: 'path s, args? []s, env? []s, timeout? *i',
  Hooks: 'prestart? []Hook, createRuntime? []Hook, createContainer? []Hook, startContainer? []Hook, poststart? []Hook, poststop? []Hook',
  Linux: 'uidMappings? []IDMapping, gidMappings? []IDMapping, sysctl? {s}, resources? *Resources, cgroupsPath? s, namespaces? []Namespace, devices? []Device, netDevices? {NetDevice}, seccomp? *Seccomp, rootfsPropagation? s, maskedPaths? []s, readonlyPaths? []s, mountLabel? s, intelRdt? *IntelRdt, memoryPolicy? *MemoryPolicy, personality? *Personality, timeOffsets? {TimeOffset}',
  Namespace: 'type s, path? s',
  IDMapping: 'containerID u, hostID u, size u',
  TimeOffset: 'secs? i, nanosecs? u',
  Device: 'path s, type s, major i, minor i, fileMode? *u, uid? *u, gid? *u',
  NetDevice: 'name? s',
  DeviceCgroup: 'allow b, type? s, major? *i, minor? *i, access? s',
  Resources: 'devices? []DeviceCgroup, memory? *Memory, cpu? *CPU, pids? *Pids, blockIO? *BlockIO, hugepageLimits? []Hugepage, network? *Network, rdma? {Rdma}, unified? {s}',
  Memory: 'limit? *i, reservation? *i, swap? *i, kernel? *i, kernelTCP? *i, swappiness? *u, disableOOMKiller? *b, useHierarchy? *b, checkBeforeUpdate? *b',
  CPU: 'shares? *u, quota? *i, burst? *u, period? *u, realtimeRuntime? *i, realtimePeriod? *u, cpus? s, mems? s, idle? *i',
  Pids: 'limit? *i',
  BlockIO: 'weight? *u, leafWeight? *u, weightDevice? []WeightDevice, throttleReadBpsDevice? []Throttle, throttleWriteBpsDevice? []Throttle, throttleReadIOPSDevice? []Throttle, throttleWriteIOPSDevice? []Throttle',
  WeightDevice: 'major i, minor i, weight? *u, leafWeight? *u',
  Throttle: 'major i, minor i, rate u',
  Hugepage: 'pageSize s, limit u',
  Network: 'classID? *u, priorities? []Priority',
  Priority: 'name s, priority u',
  Rdma: 'hcaHandles? *u, hcaObjects? *u',
  Seccomp: 'defaultAction s, defaultErrnoRet? *u, architectures? []s, flags? []s, listenerPath? s, listenerMetadata? s, syscalls? []Syscall',
  Syscall: 'names []s, action s, errnoRet? *u, args? []SeccompArg',
  SeccompArg: 'index u, value u, valueTwo? u, op s',
  IntelRdt: 'closID? s, schemata? []s, l3CacheSchema? s, memBwSchema? s, enableMonitoring? b',
  MemoryPolicy: 'mode s, nodes s, flags? []s',
  Personality: 'domain s, flags? []s',
  Solaris: 'milestone? s, limitpriv? s, maxShmMemory? s, anet? []Anet, cappedCPU? *CappedCPU, cappedMemory? *CappedMemory',
  CappedCPU: 'ncpus? s',
  CappedMemory: 'physical? s, swap? s',
  Anet: 'linkname? s, lowerLink? s, allowedAddress? s, configureAllowedAddress? s, defrouter? s, linkProtection? s, macAddress? s',
  Windows: 'layerFolders []s, devices? []WindowsDevice, resources? *WindowsResources, credentialSpec? any, servicing? b, ignoreFlushesDuringBoot? b, hyperv? *HyperV, network? *WindowsNetwork',
  WindowsDevice: 'id s, idType s',
  WindowsResources: 'memory? *WindowsMemory, cpu? *WindowsCPU, storage? *WindowsStorage',
  WindowsMemory: 'limit? *u',
  WindowsCPU: 'count? *u, shares? *u, maximum? *u, affinity? []Affinity',
  Affinity: 'mask? u, group? u',
  WindowsStorage: 'iops? *u, bps? *u, sandboxSize? *u',
  WindowsNetwork: 'endpointList? []s, allowUnqualifiedDNSQuery? b, DNSSearchList? []s, networkSharedContainerName? s, networkNamespace? s',
  HyperV: 'utilityVMPath? s',
  VM: 'hypervisor Hypervisor, kernel Kernel, image Image, hwconfig? *HWConfig',
  Hypervisor: 'path s, parameters? []s',
  Kernel: 'path s, parameters? []s, initrd? s',
  Image: 'path s, format s',
  HWConfig: 'deviceTree? s, vcpus? *u, memory? *u, dtdevs? []s, iomems? []IOMems, irqs? []u',
  IOMems: 'firstGFN? *u, firstMFN *u, nrMFNs *u',
  ZOS: 'namespaces? []Namespace',
  FreeBSD: 'devices? []FreeBSDDevice, jail? *Jail',
  FreeBSDDevice: 'path s, mode? *u',
  Jail: 'parent? s, host? s, ip4? s, ip4Addr? []s, ip6? s, ip6Addr? []s, vnet? s, interface? s, vnetInterfaces? []s, sysvmsg? s, sysvsem? s, sysvshm? s, enforceStatfs? *i, allow? *JailAllow',
  JailAllow: 'setHostname? b, rawSockets? b, chflags? b, mount? []s, quotas? b, socketAf? b, mlock? b, reservedPorts? b, suser? b',
};

interface Field { name: string; kind: string; omitempty: boolean }
const STRUCTS: Record<string, Field[]> = Object.fromEntries(Object.entries(STRUCTS_SRC).map(([type, src]) => [type, src.split(', ').map((f) => {
  const [name, kind] = f.split(' ') as [string, string];
  return { name: name.replace('?', ''), kind, omitempty: name.endsWith('?') };
})]));

type Json = unknown;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const SCALAR_ZERO: Record<string, Json> = { s: '', b: false, i: 0, u: 0 };

/** A config as runtime-tools writes it. Unknown fields (from a template) are kept, after the known ones. */
export function marshalSpec(spec: object): Record<string, unknown> {
  const out = marshalStruct(spec as Record<string, unknown>, 'Spec');
  // runtime-tools' Save drops a linux section that marshals to {}.
  if (isObject(out.linux) && Object.keys(out.linux).length === 0) delete out.linux;
  return out;
}

export function marshalAs(value: unknown, type: string): unknown {
  return isObject(value) ? marshalStruct(value, type) : value;
}

function marshalStruct(obj: Record<string, unknown>, type: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = STRUCTS[type]!;
  for (const f of fields) {
    const v = marshalField(obj[f.name], f);
    if (v !== undefined) out[f.name] = v;
  }
  for (const [k, v] of Object.entries(obj)) if (!fields.some((f) => f.name === k) && v !== undefined) out[k] = v;
  return out;
}

function marshalField(v: unknown, f: Field): unknown {
  const { kind } = f;
  const pointer = kind.startsWith('*');
  if (v === undefined || v === null) {
    if (f.omitempty || pointer || kind === 'any' || kind.startsWith('{')) return undefined;
    if (kind.startsWith('[]')) return [];
    return kind in SCALAR_ZERO ? SCALAR_ZERO[kind] : marshalStruct({}, kind);
  }
  if (pointer) return marshalValue(v, kind.slice(1));
  if (f.omitempty && (v === '' || v === false || v === 0)) return undefined;
  if (f.omitempty && ((Array.isArray(v) && v.length === 0) || (kind.startsWith('{') && isObject(v) && Object.keys(v).length === 0))) {
    return undefined;
  }
  return marshalValue(v, kind);
}

function marshalValue(v: unknown, kind: string): unknown {
  if (kind.startsWith('[]')) return Array.isArray(v) ? v.map((e) => marshalValue(e, kind.slice(2))) : v;
  if (kind.startsWith('{')) {
    if (!isObject(v)) return v;
    const inner = kind.slice(1, -1);
    // Go writes map keys sorted.
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, marshalValue(v[k], inner)]));
  }
  if (STRUCTS[kind] && isObject(v)) return marshalStruct(v, kind);
  return v;
}

class DecodeError extends Error {}

/**
 * Decode a JSON option value into runtime-spec `type`: keys matched as encoding/json does (exact,
 * else case-insensitive), but unknown keys and wrong types are errors naming `flag`.
 */
export function decodeAs<T>(value: unknown, type: string, flag: string): T {
  try {
    return decodeValue(value, type, type, true) as T;
  } catch (e) {
    if (e instanceof DecodeError) throw bad(flag, value, `is not valid: ${e.message}`);
    throw e;
  }
}

/**
 * A whole config (a template): known fields must have the right JSON types, nulls become absent (as
 * in Go), unknown fields are kept. Returns the decoded config, or the problem.
 */
export function decodeConfig(value: unknown): { config: Record<string, unknown> } | { problem: string } {
  try {
    return { config: decodeValue(value, 'Spec', 'config', false) as Record<string, unknown> };
  } catch (e) {
    if (e instanceof DecodeError) return { problem: e.message };
    throw e;
  }
}

function decodeValue(v: unknown, kind: string, at: string, strict: boolean): unknown {
  const fail = (what: string) => new DecodeError(`${at} must be ${what}`);
  if (v === null && (!strict || kind.startsWith('*') || kind.startsWith('[]') || kind.startsWith('{'))) return undefined;
  if (kind.startsWith('*')) return decodeValue(v, kind.slice(1), at, strict);
  if (kind === 'any') return v;
  if (kind.startsWith('[]')) {
    if (!Array.isArray(v)) throw fail('an array');
    return v.map((e, i) => decodeValue(e, kind.slice(2), `${at}[${i}]`, strict));
  }
  if (kind.startsWith('{')) {
    if (!isObject(v)) throw fail('an object');
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, decodeValue(e, kind.slice(1, -1), `${at}.${k}`, strict)]));
  }
  switch (kind) {
    case 's': if (typeof v !== 'string') throw fail('a string'); return v;
    case 'b': if (typeof v !== 'boolean') throw fail('true or false'); return v;
    case 'i': if (!Number.isSafeInteger(v)) throw fail('a whole number'); return v;
    case 'u': if (!Number.isSafeInteger(v) || (v as number) < 0) throw fail('a whole number ≥ 0'); return v;
  }
  if (!isObject(v)) throw fail('an object');
  const fields = STRUCTS[kind]!;
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(v)) {
    const f = fields.find((x) => x.name === k) ?? (strict ? fields.find((x) => x.name.toLowerCase() === k.toLowerCase()) : undefined);
    if (!f && strict) throw new DecodeError(`${at} has an unknown field "${k}" (fields: ${fields.map((x) => x.name).join(', ')})`);
    const d = f ? decodeValue(e, f.kind, `${at}.${f.name}`, strict) : e;
    if (d !== undefined) out[f?.name ?? k] = d;
  }
  return out;
}
