import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateBundle } from '../../../src/bundle/validate.js';

type Config = ReturnType<typeof goodConfig>;

/** Exercises every rule without breaking one; each case below breaks exactly one thing. */
function goodConfig() {
  return {
    ociVersion: '1.3.0',
    root: { path: 'rootfs', readonly: true },
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/bin/sh', '-c', 'true'],
      env: ['PATH=/usr/bin:/bin', 'TERM=xterm', 'EMPTY='],
      cwd: '/',
      capabilities: {
        bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],
        effective: ['CAP_KILL'],
        permitted: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'],
        inheritable: ['CAP_NET_BIND_SERVICE'],
        ambient: ['CAP_NET_BIND_SERVICE'],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }, { type: 'RLIMIT_CORE', hard: 0, soft: 0 }],
      noNewPrivileges: true,
      apparmorProfile: 'oci-tool-default',
      selinuxLabel: 'system_u:system_r:container_t:s0:c1,c2',
    },
    hostname: 'box',
    domainname: 'example.org',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/data', type: 'none', source: 'data', options: ['rbind', 'ro'] },
      { destination: '/shared', type: 'none', source: '/srv', options: ['bind', 'idmap'] },
    ] as { destination: string; type: string; source?: string; options?: string[] }[],
    hooks: { prestart: [{ path: '/usr/bin/true', env: ['A=1'] }], createRuntime: [{ path: '/usr/bin/true' }] },
    linux: {
      namespaces: [
        { type: 'pid' }, { type: 'network', path: '/var/run/netns/pod' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' },
        { type: 'user' }, { type: 'time' },
      ] as { type: string; path?: string }[],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      timeOffsets: { monotonic: { secs: 1 } },
      devices: [
        { type: 'c', path: '/dev/fuse', major: 10, minor: 229 },
        { type: 'b', path: '/dev/sda', major: 8, minor: 0 },
        { type: 'p', path: '/dev/fifo' },
      ] as { type: string; path: string; major?: number; minor?: number }[],
      sysctl: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1', 'fs.mqueue.msg_max': '10', 'kernel.domainname': 'x' } as Record<string, string>,
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
      rootfsPropagation: 'private',
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: 1,
        architectures: ['SCMP_ARCH_X86_64'],
        flags: ['SECCOMP_FILTER_FLAG_LOG'],
        syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] }],
      },
      cgroupsPath: '/oci-tool/test',
      resources: {
        memory: { limit: 1000, swap: 2000, reservation: 500 },
        devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }],
      },
      mountLabel: 'system_u:object_r:container_file_t:s0',
    },
  };
}

let work: string;
let n = 0;
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'oci-tool-validate-bundle-')); });
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

/** A bundle whose rootfs has /bin/sh → /bin/busybox (absolute link, resolved inside the rootfs). */
async function bundle(config: unknown = goodConfig()): Promise<string> { // null: no config.json
  const dir = join(work, `b${n++}`);
  await mkdir(join(dir, 'rootfs', 'bin'), { recursive: true });
  await writeFile(join(dir, 'rootfs', 'bin', 'busybox'), '#!/bin/true\n');
  await chmod(join(dir, 'rootfs', 'bin', 'busybox'), 0o755);
  await symlink('/bin/busybox', join(dir, 'rootfs', 'bin', 'sh'));
  // The host has no /bin/noexec: only resolving inside the rootfs finds this unrunnable file.
  await writeFile(join(dir, 'rootfs', 'bin', 'noexec'), 'data\n');
  await symlink('/bin/noexec', join(dir, 'rootfs', 'bin', 'link'));
  if (config !== null) await writeFile(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

const withoutNs = (c: Config, ...types: string[]) => { c.linux.namespaces = c.linux.namespaces.filter((ns) => !types.includes(ns.type)); };

describe('validateBundle', () => {
  it('accepts a good bundle', async () => {
    const dir = await bundle();
    expect(await validateBundle(dir)).toEqual({ target: join(dir, 'config.json'), ok: true, problems: [] });
  });

  it('accepts a minimal bundle', async () => {
    const dir = await bundle({ ociVersion: '1.0.2', root: { path: 'rootfs' } });
    expect((await validateBundle(dir)).problems).toEqual([]);
  });

  const cases: [rule: string, pointer: string, change: (c: Config) => void][] = [
    ['schema', '/process/terminal', (c) => { (c.process as Record<string, unknown>).terminal = 'yes'; }],
    ['ociVersion.semver', '/ociVersion', (c) => { c.ociVersion = '1.0'; }],
    ['ociVersion.supported', '/ociVersion', (c) => { c.ociVersion = '2.0.0'; }],
    ['root.path.exists', '/root/path', (c) => { c.root.path = 'nowhere'; }],
    ['root.path.directory', '/root/path', (c) => { c.root.path = 'config.json'; }],
    ['root.path.inBundle', '/root/path', (c) => { c.root.path = work; }],
    ['process.args.nonEmpty', '/process/args', (c) => { c.process.args = []; }],
    ['process.args.executable', '/process/args/0', (c) => { c.process.args = ['/bin/link']; }],
    ['process.args.executable', '/process/args/0', (c) => { c.process.args = ['/bin']; }],
    ['process.cwd.absolute', '/process/cwd', (c) => { c.process.cwd = 'tmp'; }],
    ['process.env.format', '/process/env/1', (c) => { c.process.env[1] = 'NOVALUE'; }],
    ['process.env.format', '/process/env/0', (c) => { c.process.env[0] = 'A-B=1'; }],
    ['process.capabilities.known', '/process/capabilities/bounding/1', (c) => { c.process.capabilities.bounding[1] = 'CAP_FLY'; }],
    ['process.capabilities.effective', '/process/capabilities/effective/0', (c) => { c.process.capabilities.effective = ['CAP_CHOWN']; }],
    ['process.capabilities.ambient', '/process/capabilities/ambient/0', (c) => { c.process.capabilities.ambient = ['CAP_KILL']; }],
    ['process.rlimits.known', '/process/rlimits/1/type', (c) => { c.process.rlimits[1]!.type = 'RLIMIT_FOO'; }],
    ['process.rlimits.unique', '/process/rlimits/1/type', (c) => { c.process.rlimits[1]!.type = 'RLIMIT_NOFILE'; }],
    ['process.rlimits.order', '/process/rlimits/0', (c) => { c.process.rlimits[0]!.soft = 2048; }],
    ['process.apparmorProfile.format', '/process/apparmorProfile', (c) => { c.process.apparmorProfile = 'a\nb'; }],
    ['process.selinuxLabel.format', '/process/selinuxLabel', (c) => { c.process.selinuxLabel = 'container_t'; }],
    ['hostname.utsNamespace', '/hostname', (c) => withoutNs(c, 'uts')],
    ['domainname.utsNamespace', '/domainname', (c) => withoutNs(c, 'uts')],
    ['mounts.destination.absolute', '/mounts/0/destination', (c) => { c.mounts[0]!.destination = 'proc'; }],
    ['mounts.source.bind', '/mounts/1/source', (c) => { delete c.mounts[1]!.source; }],
    ['mounts.idmap.userNamespace', '/mounts/2/options/1', (c) => {
      withoutNs(c, 'user');
      c.linux.uidMappings = [];
      c.linux.gidMappings = [];
    }],
    ['hooks.path.absolute', '/hooks/createRuntime/0/path', (c) => { c.hooks.createRuntime[0]!.path = 'true'; }],
    ['hooks.env.format', '/hooks/prestart/0/env/0', (c) => { c.hooks.prestart[0]!.env = ['NOPE']; }],
    ['linux.namespaces.type', '/linux/namespaces/7/type', (c) => { c.linux.namespaces.push({ type: 'foo' }); }],
    ['linux.namespaces.unique', '/linux/namespaces/7/type', (c) => { c.linux.namespaces.push({ type: 'pid' }); }],
    ['linux.namespaces.path.absolute', '/linux/namespaces/1/path', (c) => { c.linux.namespaces[1]!.path = 'netns/pod'; }],
    ['linux.idMappings.userNamespace', '/linux/uidMappings', (c) => { c.linux.namespaces[5]!.path = '/proc/1/ns/user'; }],
    ['linux.idMappings.userNamespace', '/linux/gidMappings', (c) => withoutNs(c, 'user')],
    ['linux.timeOffsets.timeNamespace', '/linux/timeOffsets', (c) => withoutNs(c, 'time')],
    ['linux.devices.type', '/linux/devices/0/type', (c) => { c.linux.devices[0]!.type = 'x'; }],
    ['linux.devices.number', '/linux/devices/0/major', (c) => { delete c.linux.devices[0]!.major; }],
    ['linux.devices.number', '/linux/devices/2/minor', (c) => { c.linux.devices[2]!.minor = 3; }],
    ['linux.devices.path.absolute', '/linux/devices/1/path', (c) => { c.linux.devices[1]!.path = 'dev/sda'; }],
    ['linux.devices.unique', '/linux/devices/1/path', (c) => { c.linux.devices[1]!.path = '/dev/fuse'; }],
    ['linux.sysctl.namespace', '/linux/sysctl/net.ipv4.ip_forward', (c) => withoutNs(c, 'network')],
    ['linux.sysctl.namespace', '/linux/sysctl/kernel.shmmax', (c) => withoutNs(c, 'ipc')],
    ['linux.sysctl.namespace', '/linux/sysctl/fs.mqueue.msg_max', (c) => withoutNs(c, 'mount')],
    ['linux.sysctl.namespace', '/linux/sysctl/kernel.hostname', (c) => { withoutNs(c, 'uts'); c.linux.sysctl['kernel.hostname'] = 'h'; }],
    ['linux.maskedPaths.absolute', '/linux/maskedPaths/0', (c) => { c.linux.maskedPaths = ['proc/kcore']; }],
    ['linux.readonlyPaths.absolute', '/linux/readonlyPaths/0', (c) => { c.linux.readonlyPaths = ['proc/sys']; }],
    ['linux.rootfsPropagation', '/linux/rootfsPropagation', (c) => { c.linux.rootfsPropagation = 'rshared'; }],
    ['linux.seccomp.defaultAction', '/linux/seccomp/defaultAction', (c) => { c.linux.seccomp.defaultAction = 'SCMP_ACT_MAYBE'; }],
    ['linux.seccomp.architectures', '/linux/seccomp/architectures/0', (c) => { c.linux.seccomp.architectures = ['SCMP_ARCH_Z80']; }],
    ['linux.seccomp.flags', '/linux/seccomp/flags/0', (c) => { c.linux.seccomp.flags = ['SECCOMP_FILTER_FLAG_FAST']; }],
    ['linux.seccomp.syscalls.action', '/linux/seccomp/syscalls/0/action', (c) => { c.linux.seccomp.syscalls[0]!.action = 'ALLOW'; }],
    ['linux.seccomp.syscalls.names', '/linux/seccomp/syscalls/0/names', (c) => { c.linux.seccomp.syscalls[0]!.names = []; }],
    ['linux.seccomp.syscalls.op', '/linux/seccomp/syscalls/0/args/0/op', (c) => { c.linux.seccomp.syscalls[0]!.args[0]!.op = '=='; }],
    ['linux.cgroupsPath.format', '/linux/cgroupsPath', (c) => { c.linux.cgroupsPath = ''; }],
    ['linux.resources.memory.swap', '/linux/resources/memory/swap', (c) => { c.linux.resources.memory.swap = 500; }],
    ['linux.resources.memory.reservation', '/linux/resources/memory/reservation', (c) => { c.linux.resources.memory.reservation = 5000; }],
    ['linux.resources.devices.type', '/linux/resources/devices/1/type', (c) => { c.linux.resources.devices[1]!.type = 'p'; }],
    ['linux.resources.devices.access', '/linux/resources/devices/0/access', (c) => { c.linux.resources.devices[0]!.access = 'rx'; }],
    ['linux.mountLabel.format', '/linux/mountLabel', (c) => { c.linux.mountLabel = 'container_file_t'; }],
  ];

  it.each(cases)('reports %s at %s', async (rule, pointer, change) => {
    const config = goodConfig();
    change(config);
    const report = await validateBundle(await bundle(config));
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual({ pointer, rule, message: expect.any(String) });
    // A named rule replaces the schema's less precise report of the same field.
    expect(report.problems.filter((p) => p.pointer === pointer && p.rule === 'schema' && rule !== 'schema')).toEqual([]);
  });

  it('reports a missing config.json', async () => {
    const dir = await bundle(null);
    expect(await validateBundle(dir)).toEqual({
      target: join(dir, 'config.json'), ok: false, problems: [{ pointer: '', rule: 'config.read', message: 'no config.json in the bundle' }],
    });
  });

  it('reports a config.json that is not JSON or not UTF-8', async () => {
    const notJson = await validateBundle(await bundle('{"ociVersion": '));
    expect(notJson.problems).toEqual([{ pointer: '', rule: 'json.parse', message: expect.stringMatching(/^is not valid JSON/) }]);
    const dir = await bundle(null);
    await writeFile(join(dir, 'config.json'), Buffer.from([0x7b, 0xff, 0x7d]));
    expect((await validateBundle(dir)).problems).toEqual([{ pointer: '', rule: 'json.parse', message: 'is not UTF-8' }]);
  });

  it('reports a document that is not an object against the schema only', async () => {
    const report = await validateBundle(await bundle('[]'));
    expect(report.ok).toBe(false);
    expect(new Set(report.problems.map((p) => p.rule))).toEqual(new Set(['schema']));
  });
});
