// runtime-spec v1.3 extras, --rootless, templates, the default template per OS, Solaris/VM/Windows.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isOciToolError } from '../../../src/errors.js';
import { generate } from '../../../src/generate/options.js';
import { MASKED_PATHS, READONLY_PATHS } from '../../../src/generate/rootless.js';
import { defaultSpec, type Spec } from '../../../src/generate/spec.js';
import { DEFAULT, fails, gen } from './helpers.js';

type Case = [string[], (s: ReturnType<typeof gen>) => unknown, unknown];
const table = (cases: Case[]) => test.each(cases)('%j', (argv, pick, want) => expect(pick(gen(argv))).toEqual(want));
const errors = (cases: [string[], RegExp][]) => test.each(cases)('%j fails', (argv, re) => fails(argv, re));

describe('runtime-spec 1.3 extras', () => {
  table([
    [['--process-scheduler-policy', 'SCHED_DEADLINE', '--process-scheduler-runtime', '1000', '--process-scheduler-deadline', '2000', '--process-scheduler-period', '3000',
      '--process-scheduler-flags', 'reset_on_fork,SCHED_FLAG_RECLAIM'], (s) => s.process?.scheduler,
    { policy: 'SCHED_DEADLINE', flags: ['SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_RECLAIM'], runtime: 1000, deadline: 2000, period: 3000 }],
    [['--process-scheduler-policy', 'fifo', '--process-scheduler-priority', '10', '--process-scheduler-nice', '-20'], (s) => s.process?.scheduler, { policy: 'SCHED_FIFO', nice: -20, priority: 10 }],
    [['--process-io-priority', 'IOPRIO_CLASS_RT:0'], (s) => s.process?.ioPriority, { class: 'IOPRIO_CLASS_RT', priority: 0 }],
    [['--process-io-priority', 'idle:7'], (s) => s.process?.ioPriority, { class: 'IOPRIO_CLASS_IDLE', priority: 7 }],
    [['--process-exec-cpu-affinity-initial', '0-3,7', '--process-exec-cpu-affinity-final', '4'], (s) => s.process?.execCPUAffinity, { initial: '0-3,7', final: '4' }],
    [['--linux-personality', 'linux32'], (s) => s.linux?.personality, { domain: 'LINUX32' }],
    [['--linux-personality', 'LINUX:a,b'], (s) => s.linux?.personality, { domain: 'LINUX', flags: ['a', 'b'] }],
    [['--linux-time-offset', 'monotonic:-10', '--linux-time-offset', 'boottime:5:500'], (s) => [s.linux?.timeOffsets, s.linux?.namespaces?.at(-1)],
      [{ boottime: { secs: 5, nanosecs: 500 }, monotonic: { secs: -10 } }, { type: 'time' }]],
    [['--linux-namespace-add', 'time:/proc/1/ns/time', '--linux-time-offset', 'boottime:1'], (s) => s.linux?.namespaces?.at(-1), { type: 'time', path: '/proc/1/ns/time' }],
    [['--linux-memory-policy', 'bind:0-1:MPOL_F_STATIC_NODES'], (s) => s.linux?.memoryPolicy, { mode: 'MPOL_BIND', nodes: '0-1', flags: ['MPOL_F_STATIC_NODES'] }],
    [['--linux-memory-policy', 'MPOL_LOCAL'], (s) => s.linux?.memoryPolicy, { mode: 'MPOL_LOCAL', nodes: '' }],
    [['--linux-net-device', 'eth1', '--linux-net-device', 'eth2:ctr0'], (s) => s.linux?.netDevices, { eth1: {}, eth2: { name: 'ctr0' } }],
  ]);
  test('a template’s scheduler keeps its policy', () => {
    const template = { ...DEFAULT, process: { ...DEFAULT.process!, scheduler: { policy: 'SCHED_RR', priority: 5 } } };
    expect(gen(['--process-scheduler-priority', '9'], template).process?.scheduler).toEqual({ policy: 'SCHED_RR', priority: 9 });
  });
  errors([
    [['--process-scheduler-priority', '5'], /need --process-scheduler-policy/],
    [['--process-scheduler-policy', 'SCHED_FAST'], /--process-scheduler-policy/],
    [['--process-scheduler-policy', 'fifo', '--process-scheduler-nice', '20'], /--process-scheduler-nice/],
    [['--process-scheduler-policy', 'fifo', '--process-scheduler-flags', 'FAST'], /--process-scheduler-flags/],
    [['--process-io-priority', 'be:8'], /--process-io-priority: "8" is out of range/],
    [['--process-io-priority', 'be'], /--process-io-priority: "be" is not CLASS:PRIORITY/],
    [['--process-exec-cpu-affinity-final', 'all'], /--process-exec-cpu-affinity-final/],
    [['--linux-personality', 'WIN'], /--linux-personality/],
    [['--linux-personality', 'LINUX:a,'], /--linux-personality: .*empty flag/],
    [['--linux-time-offset', 'realtime:1'], /--linux-time-offset: "realtime" is not one of monotonic, boottime/],
    [['--linux-time-offset', 'boottime:1:1000000000'], /--linux-time-offset/],
    [['--linux-memory-policy', 'MPOL_SOMETIMES:0'], /--linux-memory-policy/],
    [['--linux-net-device', 'eth0:'], /--linux-net-device/],
  ]);
});

describe('--rootless', () => {
  const ids = { uid: 1000, gid: 1001 };
  const rootless = () => JSON.parse(JSON.stringify(generate({ arch: 'amd64', rootless: true }, undefined, { ids }))) as Spec;

  test('maps the calling user to root in a new user namespace, without network namespace or cgroups', () => {
    const s = rootless();
    expect(s.linux?.namespaces).toEqual(['pid', 'ipc', 'uts', 'mount', 'user'].map((type) => ({ type })));
    expect(s.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 1000, size: 1 }]);
    expect(s.linux?.gidMappings).toEqual([{ containerID: 0, hostID: 1001, size: 1 }]);
    expect(s.linux?.resources).toBeUndefined();
    expect(s.linux?.maskedPaths).toEqual(MASKED_PATHS);
    expect(s.linux?.readonlyPaths).toEqual(READONLY_PATHS);
    expect(s.linux?.seccomp).toEqual(DEFAULT.linux?.seccomp);
  });
  test('adjusts mounts as runc spec --rootless does', () => {
    const mounts = rootless().mounts!;
    expect(mounts.find((m) => m.destination === '/sys')).toEqual({ destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
    expect(mounts.find((m) => m.destination === '/dev/pts')?.options).toEqual(['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']);
    expect(mounts.find((m) => m.destination === '/dev/mqueue')).toEqual(DEFAULT.mounts!.find((m) => m.destination === '/dev/mqueue'));
    expect(mounts.map((m) => m.destination)).toEqual(DEFAULT.mounts!.map((m) => m.destination));
  });
  test('options still apply: a network namespace, cgroup limits, own mappings', () => {
    const s = gen(['--rootless', '--linux-namespace-add', 'network', '--linux-mem-limit', '1g', '--linux-uidmappings', '5000:0:1']);
    expect(s.linux?.namespaces?.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount', 'user', 'network']);
    expect(s.linux?.resources).toEqual({ memory: { limit: 1073741824 } });
    expect(s.linux?.uidMappings).toEqual([{ containerID: 0, hostID: 5000, size: 1 }]);
    expect(s.linux?.gidMappings?.[0]?.hostID).toBe(process.getegid?.() ?? 0);
  });
});

describe('templates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gen-tpl-'));
  const file = (name: string, body: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
    return path;
  };
  const template = { ociVersion: '1.2.0', root: { path: '/srv/rootfs', readonly: true }, process: { user: { uid: 5, gid: 5 }, cwd: '/work', args: ['app'] }, custom: { kept: true } };

  test('template values are kept unless an option sets them (root.path and cwd too)', () => {
    const path = file('t.json', template);
    expect(gen(['--template', path])).toEqual(template);
    const s = gen(['--template', path, '--process-cwd', '/other', '--rootfs-path', 'r2', '--hostname', 'h']);
    expect([s.process?.cwd, s.root?.path, s.root?.readonly, s.hostname, s.ociVersion]).toEqual(['/other', 'r2', true, 'h', '1.2.0']);
  });
  test('missing root path, cwd and ociVersion are filled as oci-runtime-tool does', () => {
    const s = gen(['--template', file('bare.json', { root: {}, process: { user: { uid: 0, gid: 0 } } })]);
    expect([s.ociVersion, s.root, s.process?.cwd]).toEqual(['1.3.0', { path: 'rootfs' }, '/']);
  });
  test('a template object is not changed, and nulls count as absent', () => {
    const t = { ...structuredClone(DEFAULT), hooks: null } as unknown as Spec;
    const before = structuredClone(t);
    expect(gen(['--hostname', 'x', '--process-cap-drop', 'CAP_KILL'], t).hooks).toBeUndefined();
    expect(t).toEqual(before);
  });
  test.each([
    ['missing.json', /--template: cannot read .*missing.json: ENOENT/],
    ['notjson', /is not valid JSON/],
    ['badtype', /config.process.user.uid must be a whole number/],
  ])('%s is refused with exit 2', (name, re) => {
    const path = name === 'missing.json' ? join(dir, name) : name === 'notjson' ? file(name, '{') : file(name, { process: { user: { uid: 'root' } } });
    let error: unknown;
    try {
      gen(['--template', path]);
    } catch (e) {
      error = e;
    }
    expect(isOciToolError(error) && error.exitCode).toBe(2);
    expect((error as Error).message).toMatch(re);
  });
});

describe('operating systems and platforms', () => {
  test.each(['linux', 'solaris', 'windows', 'freebsd'])('--os %s is its default template', (os) => {
    expect(gen(['--os', os])).toEqual(JSON.parse(JSON.stringify(generate({ os, arch: 'amd64' }, defaultSpec({ os, arch: 'amd64' })))));
  });
  test('the OS templates', () => {
    expect(gen(['--os', 'windows'])).toEqual({ ociVersion: '1.3.0', process: { user: { uid: 0, gid: 0 }, args: ['cmd'], cwd: 'C:\\' }, hostname: 'mrsdalloway', windows: { layerFolders: [] } });
    expect(gen(['--os', 'solaris']).linux).toBeUndefined();
    expect(gen(['--os', 'freebsd']).mounts).toEqual([{ destination: '/dev', type: 'devfs', source: 'devfs', options: ['ruleset=4'] }, { destination: '/dev/fd', type: 'fdescfs', source: 'fdesc' }]);
    fails(['--os', 'darwin'], /--os: "darwin" is not one of linux, solaris, windows, freebsd/);
  });
  table([
    [['--solaris-anet', '{"linkname":"net0","lowerLink":"net2"}', '--solaris-capped-cpu-ncpus', '8', '--solaris-capped-memory-physical', '512m', '--solaris-capped-memory-swap', '1g',
      '--solaris-limitpriv', 'default', '--solaris-max-shm-memory', '1g', '--solaris-milestone', 'svc:/milestone/container:default'], (s) => s.solaris,
    { milestone: 'svc:/milestone/container:default', limitpriv: 'default', maxShmMemory: '1g', anet: [{ linkname: 'net0', lowerLink: 'net2' }], cappedCPU: { ncpus: '8' }, cappedMemory: { physical: '512m', swap: '1g' } }],
    [['--vm-hypervisor-path', '/usr/bin/qemu', '--vm-hypervisor-parameters', '-m', '--vm-hypervisor-parameters', '2G', '--vm-kernel-path', '/k', '--vm-kernel-parameters', 'console=ttyS0',
      '--vm-kernel-initrd', '/i', '--vm-image-path', '/img', '--vm-image-format', 'qcow2'], (s) => s.vm,
    { hypervisor: { path: '/usr/bin/qemu', parameters: ['-m', '2G'] }, kernel: { path: '/k', parameters: ['console=ttyS0'], initrd: '/i' }, image: { path: '/img', format: 'qcow2' } }],
    [['--vm-kernel-path', '/k'], (s) => s.vm, { hypervisor: { path: '' }, kernel: { path: '/k' }, image: { path: '', format: '' } }],
    [['--os', 'windows', '--windows-layer-folders', 'C:\\l1', '--windows-devices', 'GUID:class', '--windows-hyperv-utilityVMPath', 'C:\\uvm', '--windows-ignore-flushes-during-boot',
      '--windows-network', '{"endpointList":["e1"],"DNSSearchList":["a"]}', '--windows-network-allowunqualifieddnsquery', '--windows-network-networkNamespace', 'ns',
      '--windows-resources-cpu', '{"count":2,"maximum":5000}', '--windows-resources-memory-limit', '1g', '--windows-resources-storage', '{"iops":100}', '--windows-servicing'], (s) => s.windows,
    { layerFolders: ['C:\\l1'], devices: [{ id: 'GUID', idType: 'class' }], resources: { memory: { limit: 1073741824 }, cpu: { count: 2, maximum: 5000 }, storage: { iops: 100 } },
      servicing: true, ignoreFlushesDuringBoot: true, hyperv: { utilityVMPath: 'C:\\uvm' },
      network: { endpointList: ['e1'], allowUnqualifiedDNSQuery: true, DNSSearchList: ['a'], networkNamespace: 'ns' } }],
  ]);
  errors([
    [['--vm-kernel-path', 'vmlinuz'], /--vm-kernel-path: "vmlinuz" is not an absolute path/],
    [['--vm-image-format', 'iso'], /--vm-image-format/],
    [['--windows-devices', 'GUID:interface'], /--windows-devices: "interface" is not one of class/],
    [['--windows-resources-cpu', '{"count":-1}'], /--windows-resources-cpu: .*WindowsCPU.count must be a whole number ≥ 0/],
    [['--windows-network', '{"endpoints":[]}'], /--windows-network: .*unknown field "endpoints"/],
    [['--solaris-anet', '{"linkname":1}'], /--solaris-anet/],
  ]);
});
