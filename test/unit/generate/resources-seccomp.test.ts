// Table tests: cgroup resources (with byte sizes) and seccomp.
import { describe, expect, test } from 'vitest';
import { bytes } from '../../../src/generate/values.js';
import { DEFAULT, fails, gen } from './helpers.js';

type Case = [string[], (s: ReturnType<typeof gen>) => unknown, unknown];
const table = (cases: Case[]) => test.each(cases)('%j', (argv, pick, want) => expect(pick(gen(argv))).toEqual(want));
const errors = (cases: [string[], RegExp][]) => test.each(cases)('%j fails', (argv, re) => fails(argv, re));
const res = (s: ReturnType<typeof gen>) => s.linux?.resources;

describe('byte sizes', () => {
  test.each([
    ['104857600', 104857600], ['1024k', 1048576], ['512m', 536870912], ['1g', 1073741824], ['1G', 1073741824],
    ['2GiB', 2147483648], ['1.5g', 1610612736], ['512mb', 536870912], ['1t', 2 ** 40], ['0', 0],
  ])('%s', (text, want) => expect(bytes(text, '--x')).toBe(want));
  test.each(['', 'm', '1.1k', '-5', '1e6', '1x', '0100', '1.5', '99999999p'])('%j is refused', (text) => {
    expect(() => bytes(text, '--x')).toThrow(/^--x: /);
  });
  test('-1 only where unlimited is allowed', () => {
    expect(bytes('-1', '--x', true)).toBe(-1);
    expect(() => bytes('-1', '--x')).toThrow(/--x/);
  });
});

describe('cgroup resources', () => {
  table([
    [['--linux-mem-limit', '512m', '--linux-mem-reservation', '256m', '--linux-mem-swap', '-1', '--linux-mem-kernel-limit', '1g',
      '--linux-mem-kernel-tcp', '64m', '--linux-mem-swappiness', '0', '--linux-disable-oom-kill'], (s) => res(s)?.memory,
    { limit: 536870912, reservation: 268435456, swap: -1, kernel: 1073741824, kernelTCP: 67108864, swappiness: 0, disableOOMKiller: true }],
    [['--linux-cpu-shares', '512', '--linux-cpu-quota', '-1', '--linux-cpu-period', '100000', '--linux-realtime-runtime', '950',
      '--linux-realtime-period', '1000', '--linux-cpus', '0-3,7', '--linux-mems', '0', '--linux-cpu-burst', '10', '--linux-cpu-idle', '1'], (s) => res(s)?.cpu,
    { shares: 512, quota: -1, burst: 10, period: 100000, realtimeRuntime: 950, realtimePeriod: 1000, cpus: '0-3,7', mems: '0', idle: 1 }],
    [['--linux-pids-limit', '-1'], (s) => res(s)?.pids, { limit: -1 }],
    [['--linux-blkio-weight', '10', '--linux-blkio-leaf-weight', '1000'], (s) => res(s)?.blockIO, { weight: 10, leafWeight: 1000 }],
    [['--linux-blkio-weight-device', '8:0:500', '--linux-blkio-leaf-weight-device', '8:0:300'], (s) => res(s)?.blockIO?.weightDevice,
      [{ major: 8, minor: 0, weight: 500, leafWeight: 300 }]],
    [['--linux-blkio-leaf-weight-device', '8:0:300', '--linux-blkio-weight-device', '8:0:500', '--linux-blkio-weight-device', '8:0:-1'],
      (s) => res(s)?.blockIO?.weightDevice, [{ major: 8, minor: 0, leafWeight: 300 }]],
    [['--linux-blkio-weight-device', '8:0:500', '--linux-blkio-leaf-weight-device', '8:0:-1'], (s) => res(s)?.blockIO?.weightDevice, [{ major: 8, minor: 0, weight: 500 }]],
    [['--linux-blkio-read-bps-device', '8:0:100', '--linux-blkio-read-bps-device', '8:0:200', '--linux-blkio-write-bps-device', '8:0:1',
      '--linux-blkio-write-iops-device', '8:16:5', '--linux-blkio-read-iops-device', '8:16:-1'], (s) => res(s)?.blockIO,
    { throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 200 }], throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 1 }], throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 5 }] }],
    [['--linux-blkio-read-bps-device', '8:0:-1'], (s) => res(s)?.blockIO, undefined],
    [['--linux-hugepage-limits-add', '2MB:1g', '--linux-hugepage-limits-add', '1GB:2', '--linux-hugepage-limits-add', '2MB:10', '--linux-hugepage-limits-drop', '1GB'],
      (s) => res(s)?.hugepageLimits, [{ pageSize: '2MB', limit: 10 }]],
    [['--linux-network-classid', '9', '--linux-network-priorities', 'eth0:3', '--linux-network-priorities', 'lo:1', '--linux-network-priorities', 'eth0:-1'],
      (s) => res(s)?.network, { classID: 9, priorities: [{ name: 'lo', priority: 1 }] }],
    [['--linux-intelRdt-closid', 'c', '--linux-intelRdt-l3CacheSchema', 'L3:0=f', '--linux-intelRdt-memBwSchema', 'MB:0=70', '--linux-intelRdt-schemata', 'L2:0=3'],
      (s) => s.linux?.intelRdt, { closID: 'c', schemata: ['L2:0=3'], l3CacheSchema: 'L3:0=f', memBwSchema: 'MB:0=70' }],
    [['--linux-cgroup-unified', 'memory.high=1G', '--linux-cgroup-unified', 'io.weight=default 100'], (s) => res(s)?.unified, { 'io.weight': 'default 100', 'memory.high': '1G' }],
  ]);
  errors([
    [['--linux-mem-limit', '12q'], /--linux-mem-limit: "12q" is not a byte size/],
    [['--linux-mem-swappiness', '101'], /--linux-mem-swappiness/],
    [['--linux-cpu-shares', '-5'], /--linux-cpu-shares/],
    [['--linux-cpu-shares', '1.5'], /--linux-cpu-shares: "1.5" is not a whole/],
    [['--linux-cpu-quota', '-2'], /--linux-cpu-quota/],
    [['--linux-cpus', '0-3;7'], /--linux-cpus: .*CPU list/],
    [['--linux-blkio-weight', '5'], /--linux-blkio-weight: "5" is out of range \(10 to 1000\)/],
    [['--linux-blkio-weight', '70000'], /--linux-blkio-weight/],
    [['--linux-blkio-weight-device', '8:0'], /--linux-blkio-weight-device: "8:0" is not MAJOR:MINOR:VALUE/],
    [['--linux-blkio-read-bps-device', '8:0:-2'], /--linux-blkio-read-bps-device/],
    [['--linux-hugepage-limits-add', '2M:10'], /--linux-hugepage-limits-add: .*page size/],
    [['--linux-network-classid', '-1'], /--linux-network-classid/],
    [['--linux-network-priorities', ':3'], /--linux-network-priorities/],
    [['--linux-cgroup-unified', 'memory.high'], /--linux-cgroup-unified/],
    [['--linux-pids-limit', '9007199254740993'], /--linux-pids-limit: .*too large/],
  ]);
});

describe('seccomp', () => {
  const sc = (s: ReturnType<typeof gen>) => s.linux?.seccomp;
  const rules = (s: ReturnType<typeof gen>) => sc(s)?.syscalls?.map((r) => `${r.names.join(',')}/${r.action.slice(9)}${r.args ? `/${r.args.length}` : ''}`);
  const defaults = rules(DEFAULT)!;
  table([
    [['--linux-seccomp-default', 'allow'], (s) => [sc(s)?.defaultAction, sc(s)?.syscalls], ['SCMP_ACT_ALLOW', undefined]],
    [['--linux-seccomp-default-force', 'allow'], (s) => [sc(s)?.defaultAction, rules(s)], ['SCMP_ACT_ALLOW', defaults]],
    [['--linux-seccomp-default', 'SCMP_ACT_KILL_PROCESS'], (s) => sc(s)?.defaultAction, 'SCMP_ACT_KILL_PROCESS'],
    [['--linux-seccomp-default', 'log', '--linux-seccomp-default-errno-ret', '38'], (s) => [sc(s)?.defaultAction, sc(s)?.defaultErrnoRet], ['SCMP_ACT_LOG', 38]],
    [['--linux-seccomp-arch', 'arm', '--linux-seccomp-arch', 'amd64,riscv64'], (s) => sc(s)?.architectures,
      ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_RISCV64']],
    [['--linux-seccomp-errno', 'ptrace', '--linux-seccomp-kill', 'reboot'], (s) => rules(s)?.slice(-2), ['modify_ldt/ALLOW', 'reboot/KILL']],
    [['--linux-seccomp-allow', 'chroot'], rules, defaults],
    [['--linux-seccomp-trace', 'chroot'], (s) => rules(s)?.[4], 'chroot/TRACE'],
    [['--linux-seccomp-trap', 'clone:0:1:0:EQ'], (s) => [rules(s)?.[5], rules(s)?.at(-1)], ['clone/ALLOW/1', 'clone/TRAP/1']],
    [['--linux-seccomp-trap', 'clone:0:2114060288:0:ME'], (s) => rules(s)?.[5], 'clone/TRAP/1'],
    [['--linux-seccomp-errno', 'open:1:2:3:SCMP_CMP_GE'], (s) => sc(s)?.syscalls?.at(-1),
      { names: ['open'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 2, valueTwo: 3, op: 'SCMP_CMP_GE' }] }],
    [['--linux-seccomp-notify', 'mount', '--linux-seccomp-log', 'open', '--linux-seccomp-kill-process', 'reboot', '--linux-seccomp-kill-thread', 'kexec_load',
      '--linux-seccomp-listener-path', '/run/agent.sock', '--linux-seccomp-listener-metadata', 'm'], (s) => [rules(s)?.slice(-4), sc(s)?.listenerPath, sc(s)?.listenerMetadata],
    [['mount/NOTIFY', 'open/LOG', 'reboot/KILL_PROCESS', 'kexec_load/KILL_THREAD'], '/run/agent.sock', 'm']],
    [['--linux-seccomp-flags', 'SECCOMP_FILTER_FLAG_LOG,SECCOMP_FILTER_FLAG_SPEC_ALLOW', '--linux-seccomp-flags', 'SECCOMP_FILTER_FLAG_LOG'], (s) => sc(s)?.flags,
      ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW']],
    // Every rule with exactly these names goes (runtime-tools leaves one of the three personality rules).
    [['--linux-seccomp-remove', 'personality', '--linux-seccomp-remove', 'arch_prctl'], rules, defaults.filter((r) => !r.startsWith('personality') && !r.startsWith('arch_prctl'))],
    [['--linux-seccomp-remove', 'accept'], rules, defaults],
    [['--linux-seccomp-remove-all', '--linux-seccomp-allow', 'read'], rules, ['read/ALLOW']],
    [['--arch', 'arm64'], (s) => [sc(s)?.architectures, rules(s)?.at(-1)], [['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64'], 'breakpoint,cacheflush,set_tls/ALLOW']],
    [['--arch', 's390x'], (s) => rules(s)?.slice(-3), ['clone/ALLOW/1', 's390_pci_mmio_read,s390_pci_mmio_write,s390_runtime_instr/ALLOW', 'clone/ALLOW/1']],
    [['--arch', 'riscv64'], (s) => [sc(s)?.architectures, rules(s)?.at(-1)], [undefined, 'clone/ALLOW/1']],
    [['--privileged', '--linux-seccomp-allow', 'read'], sc, { defaultAction: '', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }],
  ]);
  errors([
    [['--linux-seccomp-arch', 'arm,aarch64'], /--linux-seccomp-arch: "aarch64" is not a seccomp architecture/],
    [['--linux-seccomp-default', 'deny'], /--linux-seccomp-default: "deny" is not a seccomp action/],
    [['--linux-seccomp-default', ''], /--linux-seccomp-default/],
    [['--linux-seccomp-default', 'allow', '--linux-seccomp-default-force', 'errno'], /exclude each other/],
    [['--linux-seccomp-errno', 'read,'], /--linux-seccomp-errno: "" does not start with a syscall name/],
    [['--linux-seccomp-errno', 'read:0:1'], /is not a syscall or syscall:index:value:valueTwo:op/],
    [['--linux-seccomp-errno', 'read:6:1:0:EQ'], /--linux-seccomp-errno: "6" is out of range/],
    [['--linux-seccomp-errno', 'read:0:1:0:XX'], /unknown operator "XX"/],
    [['--linux-seccomp-errno', 'read:0::0:EQ'], /--linux-seccomp-errno/],
    [['--linux-seccomp-flags', 'SECCOMP_FILTER_FLAG_NOPE'], /--linux-seccomp-flags/],
    [['--linux-seccomp-listener-metadata', 'm'], /needs --linux-seccomp-listener-path/],
    [['--arch', 'vax'], /--arch: "vax"/],
  ]);
});
