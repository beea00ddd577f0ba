// The OCI runtime-spec v1.3 config.json, as TypeScript types, and oci-runtime-tool's built-in template.
// Field names and optionality follow runtime-spec's specs-go/config.go (v1.3.0).
import { defaultSeccompProfile, goArch } from './seccomp-default.js';

export const OCI_VERSION = '1.3.0';

export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
  solaris?: Solaris;
  windows?: Windows;
  vm?: VM;
  zos?: ZOS;
  freebsd?: FreeBSD;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  scheduler?: Scheduler;
  selinuxLabel?: string;
  ioPriority?: IOPriority;
  execCPUAffinity?: { initial?: string; final?: string };
}

export interface User { uid: number; gid: number; umask?: number; additionalGids?: number[]; username?: string }
export type CapabilitySet = 'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient';
export type Capabilities = Partial<Record<CapabilitySet, string[]>>;
export interface Rlimit { type: string; hard: number; soft: number }

export interface Scheduler {
  policy: string;
  nice?: number;
  priority?: number;
  flags?: string[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

export interface IOPriority { class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE'; priority: number }
export interface Root { path: string; readonly?: boolean }

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
}

export interface Hook { path: string; args?: string[]; env?: string[]; timeout?: number }
export const HOOK_KINDS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];
export type Hooks = Partial<Record<HookKind, Hook[]>>;

export interface Linux {
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
  sysctl?: Record<string, string>;
  resources?: Resources;
  cgroupsPath?: string;
  namespaces?: Namespace[];
  devices?: Device[];
  netDevices?: Record<string, { name?: string }>;
  seccomp?: Seccomp;
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: IntelRdt;
  memoryPolicy?: { mode: string; nodes: string; flags?: string[] };
  personality?: Personality;
  timeOffsets?: Record<string, TimeOffset>;
}

export interface IDMapping { containerID: number; hostID: number; size: number }
export interface Namespace { type: string; path?: string }
export interface TimeOffset { secs?: number; nanosecs?: number }
export interface Personality { domain: 'LINUX' | 'LINUX32'; flags?: string[] }

export interface Device {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceCgroup { allow: boolean; type?: string; major?: number; minor?: number; access?: string }

export interface Resources {
  devices?: DeviceCgroup[];
  memory?: Memory;
  cpu?: CPU;
  pids?: { limit?: number };
  blockIO?: BlockIO;
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  unified?: Record<string, string>;
}

export interface Memory {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
  useHierarchy?: boolean;
  checkBeforeUpdate?: boolean;
}

export interface CPU {
  shares?: number;
  quota?: number;
  burst?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
  idle?: number;
}

export interface WeightDevice { major: number; minor: number; weight?: number; leafWeight?: number }
export interface ThrottleDevice { major: number; minor: number; rate: number }
export type ThrottleKind = 'throttleReadBpsDevice' | 'throttleWriteBpsDevice' | 'throttleReadIOPSDevice' | 'throttleWriteIOPSDevice';

export interface BlockIO extends Partial<Record<ThrottleKind, ThrottleDevice[]>> {
  weight?: number;
  leafWeight?: number;
  weightDevice?: WeightDevice[];
}

export interface IntelRdt {
  closID?: string;
  schemata?: string[];
  l3CacheSchema?: string;
  memBwSchema?: string;
  enableMonitoring?: boolean;
}

export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: Syscall[];
}

/** `args` absent and `args: []` differ while generating (runtime-tools compares them that way); both print the same. */
export interface Syscall { names: string[]; action: string; errnoRet?: number; args?: SeccompArg[] }
export interface SeccompArg { index: number; value: number; valueTwo?: number; op: string }

export interface Solaris {
  milestone?: string;
  limitpriv?: string;
  maxShmMemory?: string;
  anet?: SolarisAnet[];
  cappedCPU?: { ncpus?: string };
  cappedMemory?: { physical?: string; swap?: string };
}

export interface SolarisAnet {
  linkname?: string;
  lowerLink?: string;
  allowedAddress?: string;
  configureAllowedAddress?: string;
  defrouter?: string;
  linkProtection?: string;
  macAddress?: string;
}

export interface Windows {
  layerFolders: string[];
  devices?: { id: string; idType: string }[];
  resources?: WindowsResources;
  credentialSpec?: unknown;
  servicing?: boolean;
  ignoreFlushesDuringBoot?: boolean;
  hyperv?: { utilityVMPath?: string };
  network?: WindowsNetwork;
}

export interface WindowsResources {
  memory?: { limit?: number };
  cpu?: { count?: number; shares?: number; maximum?: number; affinity?: { mask?: number; group?: number }[] };
  storage?: { iops?: number; bps?: number; sandboxSize?: number };
}

export interface WindowsNetwork {
  endpointList?: string[];
  allowUnqualifiedDNSQuery?: boolean;
  DNSSearchList?: string[];
  networkSharedContainerName?: string;
  networkNamespace?: string;
}

export interface VM {
  hypervisor: { path: string; parameters?: string[] };
  kernel: { path: string; parameters?: string[]; initrd?: string };
  image: { path: string; format: string };
  hwconfig?: Record<string, unknown>;
}

export interface ZOS { namespaces?: Namespace[] }
export interface FreeBSD { devices?: { path: string; mode?: number }[]; jail?: Record<string, unknown> }

export const DEFAULT_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'];

/** runtime-tools' default capability set, given to all five sets. */
export const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

export const GENERATE_OSES = ['linux', 'solaris', 'windows', 'freebsd'] as const;

/**
 * The template `oci-runtime-tool generate` starts from (runtime-tools generate.New), for `os`
 * (default linux) and, for the seccomp profile, `arch` (Go or Node.js name; default: this host).
 */
export function defaultSpec(opts: { os?: string; arch?: string } = {}): Spec {
  const os = opts.os ?? 'linux';
  const spec: Spec = { ociVersion: OCI_VERSION, hostname: 'mrsdalloway' };
  if (os === 'windows') {
    spec.process = { user: { uid: 0, gid: 0 }, args: ['cmd'], cwd: 'C:\\' };
    spec.windows = { layerFolders: [] };
    return spec;
  }
  spec.root = { path: 'rootfs' };
  spec.process = {
    user: { uid: 0, gid: 0 }, args: ['sh'], env: [...DEFAULT_ENV], cwd: '/',
    rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
  };
  if (os === 'freebsd') {
    spec.mounts = [
      { destination: '/dev', type: 'devfs', source: 'devfs', options: ['ruleset=4'] },
      { destination: '/dev/fd', type: 'fdescfs', source: 'fdesc', options: [] },
    ];
  }
  if (os !== 'linux') return spec;
  spec.process.capabilities = {
    bounding: [...DEFAULT_CAPS], effective: [...DEFAULT_CAPS], inheritable: [...DEFAULT_CAPS],
    permitted: [...DEFAULT_CAPS], ambient: [...DEFAULT_CAPS],
  };
  spec.mounts = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  spec.linux = {
    resources: { devices: [{ allow: false, access: 'rwm' }] },
    namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type })),
    seccomp: defaultSeccompProfile(spec.process.capabilities, goArch(opts.arch)),
  };
  return spec;
}
