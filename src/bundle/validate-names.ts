// Names the runtime spec and the Linux kernel define, for the semantic checks in validate-config.ts and validate-linux.ts.

import { KNOWN_CAPS } from '../generate/names.js';

const set = (names: readonly string[]): ReadonlySet<string> => new Set(names);

export const CAPABILITIES = set(KNOWN_CAPS);

/** getrlimit(2) resources on Linux (runtime-tools' list plus RLIMIT_LOCKS, which runc also accepts). */
export const RLIMITS = set([
  'AS', 'CORE', 'CPU', 'DATA', 'FSIZE', 'NOFILE', 'STACK', 'LOCKS', 'MEMLOCK', 'MSGQUEUE', 'NICE', 'NPROC', 'RSS', 'RTPRIO',
  'RTTIME', 'SIGPENDING',
].map((r) => `RLIMIT_${r}`));

export const NAMESPACES = set(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);

export const ROOTFS_PROPAGATION = set(['shared', 'slave', 'private', 'unbindable']);

export const DEVICE_TYPES = set(['c', 'b', 'u', 'p']);

export const SECCOMP_ACTIONS = set([
  'KILL', 'KILL_PROCESS', 'KILL_THREAD', 'TRAP', 'ERRNO', 'TRACE', 'ALLOW', 'LOG', 'NOTIFY',
].map((a) => `SCMP_ACT_${a}`));

export const SECCOMP_ARCHES = set([
  'X86', 'X86_64', 'X32', 'ARM', 'AARCH64', 'MIPS', 'MIPS64', 'MIPS64N32', 'MIPSEL', 'MIPSEL64', 'MIPSEL64N32', 'PPC', 'PPC64',
  'PPC64LE', 'S390', 'S390X', 'PARISC', 'PARISC64', 'RISCV64', 'LOONGARCH64', 'M68K', 'SH', 'SHEB',
].map((a) => `SCMP_ARCH_${a}`));

export const SECCOMP_FLAGS = set(['TSYNC', 'LOG', 'SPEC_ALLOW', 'WAIT_KILLABLE_RECV'].map((f) => `SECCOMP_FILTER_FLAG_${f}`));

export const SECCOMP_OPS = set(['NE', 'LT', 'LE', 'EQ', 'GE', 'GT', 'MASKED_EQ'].map((o) => `SCMP_CMP_${o}`));

export const HOOK_KINDS = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

// IPC sysctls that are namespaced (runc's validator; kernel ipc/ipc_sysctl.c).
const IPC_SYSCTLS = set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax',
  'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** The namespaces a sysctl needs the container to have; empty when it needs none we can tell. */
export function sysctlNamespaces(key: string): readonly string[] {
  if (key.startsWith('net.')) return ['network'];
  // runtime-tools asks for a mount namespace too: the mqueue filesystem is mounted per container.
  if (key.startsWith('fs.mqueue.')) return ['ipc', 'mount'];
  if (IPC_SYSCTLS.has(key)) return ['ipc'];
  if (key === 'kernel.hostname' || key === 'kernel.domainname') return ['uts'];
  return [];
}
