// Table tests per option group: process, capabilities, mounts and hooks, namespaces, devices, paths.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DEFAULT_CAPS } from '../../../src/generate/spec.js';
import { DEFAULT, fails, gen } from './helpers.js';

type Case = [string[], (s: ReturnType<typeof gen>) => unknown, unknown];
const table = (cases: Case[]) => test.each(cases)('%j', (argv, pick, want) => expect(pick(gen(argv))).toEqual(want));
const errors = (cases: [string[], RegExp][]) => test.each(cases)('%j fails', (argv, re) => fails(argv, re));

describe('process', () => {
  const envFile = join(mkdtempSync(join(tmpdir(), 'gen-')), 'env');
  writeFileSync(envFile, '\uFEFF# comment\n  A=1\nB=x=y\n\nHOME\n');
  table([
    [['--process-uid', '33', '--process-gid', '44'], (s) => s.process?.user, { uid: 33, gid: 44 }],
    [['--process-groups', '4', '--process-groups', '4', '--process-groups', '7'], (s) => s.process?.user.additionalGids, [4, 7]],
    [['--process-umask', '027'], (s) => s.process?.user.umask, 0o27],
    [['--process-umask', '22'], (s) => s.process?.user.umask, 0o22],
    [['--process-umask', '0o777'], (s) => s.process?.user.umask, 0o777],
    [['--process-username', 'app'], (s) => s.process?.user.username, 'app'],
    [['--process-cwd', '/srv'], (s) => s.process?.cwd, '/srv'],
    [['--args', 'sleep', '10'], (s) => s.process?.args, ['sleep', '10']],
    [['--args', 'sleep', '--args', '10'], (s) => s.process?.args, ['sleep', '10']],
    [['--', 'sh', '-c', 'echo hi'], (s) => s.process?.args, ['sh', '-c', 'echo hi']],
    [['--args=-x'], (s) => s.process?.args, ['-x']],
    [['--env', 'A=1', '--env', 'A=2', '--env', 'E='], (s) => s.process?.env?.slice(2), ['A=2', 'E=']],
    [['--env', 'PATH=/opt/bin'], (s) => s.process?.env, ['PATH=/opt/bin', 'TERM=xterm']],
    [['--env-file', envFile, '--env', 'A=9'], (s) => s.process?.env?.slice(2), ['A=9', 'B=x=y', `HOME=${process.env.HOME ?? ''}`]],
    [['--process-terminal', '--process-consolesize', '80:24'], (s) => [s.process?.terminal, s.process?.consoleSize], [true, { height: 24, width: 80 }]],
    [['--process-no-new-privileges', '--linux-apparmor', 'p', '--linux-selinux-label', 'l'], (s) => [s.process?.noNewPrivileges, s.process?.apparmorProfile, s.process?.selinuxLabel], [true, 'p', 'l']],
    [['--linux-oom-score-adj', '-1000'], (s) => s.process?.oomScoreAdj, -1000],
    [['--linux-oom-score-adj', '0'], (s) => s.process?.oomScoreAdj, 0],
    [['--process-rlimits-add', 'RLIMIT_NOFILE:4096:2048', '--process-rlimits-add', 'RLIMIT_CORE:0:0'], (s) => s.process?.rlimits,
      [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 2048 }, { type: 'RLIMIT_CORE', hard: 0, soft: 0 }]],
    [['--process-rlimits-remove', 'RLIMIT_NOFILE'], (s) => s.process?.rlimits, undefined],
    [['--process-rlimits-remove-all', '--process-rlimits-add', 'RLIMIT_AS:1:1'], (s) => s.process?.rlimits, [{ type: 'RLIMIT_AS', hard: 1, soft: 1 }]],
  ]);
  errors([
    [['--process-umask', '0778'], /--process-umask: "0778" is not an octal umask/],
    [['--process-umask', 'abc'], /--process-umask/],
    [['--process-umask', '1777'], /--process-umask/],
    [['--process-uid', '-1'], /--process-uid: "-1" is out of range/],
    [['--process-uid', '4294967296'], /--process-uid/],
    [['--process-uid', '0x10'], /--process-uid: "0x10" is not a whole/],
    [['--process-gid', '010'], /--process-gid: "010" has a leading 0/],
    [['--process-groups', 'wheel'], /--process-groups/],
    [['--process-consolesize', '80x24'], /--process-consolesize: "80x24" is not WIDTH:HEIGHT/],
    [['--linux-oom-score-adj', '1001'], /--linux-oom-score-adj/],
    [['--env', 'NOVALUE'], /--env: .*must contain '='/],
    [['--env', '=x'], /--env: .*non-empty name/],
    [['--env-file', '/nonexistent/env'], /--env-file: cannot read/],
    [['--process-rlimits-add', 'RLIMIT_NOFILE:1024'], /--process-rlimits-add: "RLIMIT_NOFILE:1024" is not TYPE:HARD:SOFT/],
    [['--process-rlimits-add', 'RLIMIT_NOFILE:-1:1'], /--process-rlimits-add/],
    [['--process-rlimits-add', 'RLIMIT_NOFILE:1:2'], /soft limit above the hard/],
    [['--process-rlimits-add', 'NOFILE:1:1'], /is not an rlimit type/],
    [['--args', 'x', '--', 'y'], /either with --args or after --/],
    [['--args', 'sh', '-c', 'x'], /unknown option '-c'/],
  ]);
});

describe('capabilities', () => {
  const caps = (s: ReturnType<typeof gen>) => s.process?.capabilities;
  const without = (list: string[], cap: string) => {
    const i = list.indexOf(cap);
    return [...list.slice(0, i), list.at(-1)!, ...list.slice(i + 1, -1)];
  };
  table([
    [['--process-cap-add', 'CAP_SYS_ADMIN'], (s) => caps(s)?.ambient?.at(-1), 'CAP_SYS_ADMIN'],
    [['--process-cap-add', 'cap_sys_admin,CAP_NET_ADMIN'], (s) => caps(s)?.bounding?.slice(-2), ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']],
    [['--process-cap-add', 'CAP_SYS_ADMIN', '--process-cap-add', 'CAP_NET_ADMIN'], (s) => caps(s)?.permitted?.slice(-2), ['CAP_SYS_ADMIN', 'CAP_NET_ADMIN']],
    [['--process-cap-add-effective', 'CAP_SYS_TIME'], (s) => [caps(s)?.effective?.at(-1), caps(s)?.bounding?.length], ['CAP_SYS_TIME', 14]],
    [['--process-cap-add', 'CAP_KILL'], (s) => caps(s)?.inheritable, DEFAULT_CAPS],
    // runtime-tools drops by moving the last entry into the hole.
    [['--process-cap-drop', 'CAP_CHOWN'], (s) => caps(s)?.effective, without(DEFAULT_CAPS, 'CAP_CHOWN')],
    [['--process-cap-drop-bounding', 'CAP_CHOWN'], (s) => [caps(s)?.bounding, caps(s)?.effective], [without(DEFAULT_CAPS, 'CAP_CHOWN'), DEFAULT_CAPS]],
    [['--process-cap-drop-all'], caps, {}],
    [['--process-cap-drop-all', '--process-cap-add-ambient', 'CAP_KILL'], caps, { ambient: ['CAP_KILL'] }],
    [['--privileged'], (s) => [caps(s)?.permitted?.length, s.linux?.seccomp], [41, undefined]],
    [['--linux-apparmor', 'x', '--privileged'], (s) => s.process?.apparmorProfile, undefined],
  ]);
  errors([
    [['--process-cap-add', 'SYS_ADMIN'], /--process-cap-add: capability "SYS_ADMIN" must start with CAP_/],
    [['--process-cap-add-ambient', 'CAP_NOPE'], /--process-cap-add-ambient: "CAP_NOPE" is not a known capability/],
    [['--process-cap-drop', 'CAP_KILL,'], /--process-cap-drop/],
    [['--process-cap-drop-all', '--process-cap-drop', 'CAP_NOPE'], /--process-cap-drop/],
  ]);
});

describe('mounts and hooks', () => {
  const tmp = { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid'] };
  table([
    [['--mounts-add', JSON.stringify(tmp)], (s) => s.mounts?.at(-1), tmp],
    [['--mounts-add', '{"Destination":"/x","Source":"/y","Type":"bind","Options":[]}'], (s) => s.mounts?.at(-1), { destination: '/x', type: 'bind', source: '/y' }],
    [['--mounts-remove', '/proc', '--mounts-remove', '/nothing'], (s) => s.mounts?.map((m) => m.destination), DEFAULT.mounts!.slice(1).map((m) => m.destination)],
    [['--mounts-remove-all', '--mounts-add', JSON.stringify(tmp)], (s) => s.mounts, [tmp]],
    [['--mounts-remove-all'], (s) => s.mounts, undefined],
    [['--hooks-prestart-add', '{"path":"/bin/a","timeout":3}', '--hooks-prestart-add', '{"path":"/bin/b"}'], (s) => s.hooks, { prestart: [{ path: '/bin/a', timeout: 3 }, { path: '/bin/b' }] }],
    [['--hooks-create-runtime-add', '{"path":"/bin/r","args":["r"]}', '--hooks-create-container-add', '{"path":"/bin/c"}', '--hooks-start-container-add', '{"path":"/bin/s","env":["A=1"]}'],
      (s) => s.hooks, { createRuntime: [{ path: '/bin/r', args: ['r'] }], createContainer: [{ path: '/bin/c' }], startContainer: [{ path: '/bin/s', env: ['A=1'] }] }],
    [['--hooks-poststop-add', '{"path":"/bin/p"}', '--hooks-poststop-remove-all'], (s) => s.hooks, { poststop: [{ path: '/bin/p' }] }],
    [['--hooks-poststart-remove-all', '--hooks-create-runtime-remove-all'], (s) => s.hooks, undefined],
  ]);
  test('remove-all empties a template’s hooks, then adds', () => {
    const template = { ...DEFAULT, hooks: { createRuntime: [{ path: '/bin/old' }], poststop: [{ path: '/bin/keep' }] } };
    expect(gen(['--hooks-create-runtime-remove-all', '--hooks-create-runtime-add', '{"path":"/bin/new"}'], template).hooks)
      .toEqual({ createRuntime: [{ path: '/bin/new' }], poststop: [{ path: '/bin/keep' }] });
  });
  errors([
    [['--mounts-add', '{"destination":'], /--mounts-add: .* is not valid JSON/],
    [['--mounts-add', '{"dest":"/x"}'], /--mounts-add: .*unknown field "dest"/],
    [['--mounts-add', '{"destination":"/x","options":"ro"}'], /Mount.options must be an array/],
    [['--mounts-add', '{"type":"tmpfs"}'], /has no "destination"/],
    [['--mounts-add', '[]'], /--mounts-add: .*must be an object/],
    [['--hooks-prestart-add', '{"path":"bin/x"}'], /--hooks-prestart-add: "bin\/x" is not an absolute path/],
    [['--hooks-poststart-add', '{"path":"/x","timeout":0}'], /timeout that is not above 0/],
    [['--hooks-start-container-add', '{"path":"/x","timeout":1.5}'], /Hook.timeout must be a whole number/],
    [['--hooks-create-runtime-add', '{"args":["x"]}'], /--hooks-create-runtime-add: .*has no "path"/],
  ]);
});

describe('namespaces and ID mappings', () => {
  const ns = (s: ReturnType<typeof gen>) => s.linux?.namespaces?.map((n) => (n.path ? `${n.type}:${n.path}` : n.type));
  table([
    [['--linux-namespace-add', 'cgroup', '--linux-namespace-add', 'time'], ns, ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup', 'time']],
    [['--linux-namespace-add', 'network:/run/netns/x'], ns, ['pid', 'network:/run/netns/x', 'ipc', 'uts', 'mount']],
    [['--linux-namespace-remove', 'network', '--linux-namespace-remove', 'user'], ns, ['pid', 'ipc', 'uts', 'mount']],
    [['--linux-namespace-remove-all', '--linux-namespace-add', 'pid'], ns, ['pid']],
    [['--linux-uidmappings', '100000:0:65536'], (s) => [ns(s)?.at(-1), s.linux?.uidMappings, s.linux?.gidMappings], ['user', [{ containerID: 0, hostID: 100000, size: 65536 }], undefined]],
    [['--linux-gidmappings', '1000:0:1', '--linux-gidmappings', '2000:1:10'], (s) => s.linux?.gidMappings,
      [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 2000, size: 10 }]],
    [['--linux-uidmappings', '1:0:1', '--linux-namespace-remove', 'user'], ns, ['pid', 'network', 'ipc', 'uts', 'mount']],
  ]);
  errors([
    [['--linux-namespace-add', 'net'], /--linux-namespace-add: "net" is not one of network, pid/],
    [['--linux-namespace-remove', 'pid:/x'], /--linux-namespace-remove/],
    [['--linux-uidmappings', '1000:0'], /--linux-uidmappings: "1000:0" is not HOSTID:CONTAINERID:SIZE/],
    [['--linux-gidmappings', '1000:0:0'], /--linux-gidmappings: .*size 0/],
    [['--linux-uidmappings', '-1:0:1'], /--linux-uidmappings/],
  ]);
});

describe('devices and device cgroup rules', () => {
  table([
    [['--linux-device-add', 'c:1:3:/dev/null'], (s) => s.linux?.devices, [{ path: '/dev/null', type: 'c', major: 1, minor: 3 }]],
    [['--linux-device-add', 'b:8:1:/dev/sdb1:fileMode=0660:uid=0:gid=6'], (s) => s.linux?.devices?.[0]?.fileMode, 0o660],
    [['--linux-device-add', 'c:1:3:/dev/null', '--linux-device-add', 'c:1:5:/dev/null'], (s) => s.linux?.devices?.map((d) => d.minor), [5]],
    [['--linux-device-add', 'c:1:3:/dev/null', '--linux-device-remove', '/dev/null'], (s) => s.linux?.devices, undefined],
    [['--linux-device-cgroup-add', 'allow,type=c,major=1,minor=3,access=rwm'], (s) => s.linux?.resources?.devices?.at(-1), { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }],
    [['--linux-device-cgroup-remove', 'deny,access=rwm'], (s) => s.linux?.resources?.devices, undefined],
    [['--linux-device-cgroup-remove', 'deny,access=rw'], (s) => s.linux?.resources?.devices, [{ allow: false, access: 'rwm' }]],
  ]);
  errors([
    [['--linux-device-add', 'x:1:3:/dev/null'], /--linux-device-add: "x" is not one of b, c, u, p/],
    [['--linux-device-add', 'c:1:/dev/null'], /is not TYPE:MAJOR:MINOR:PATH/],
    [['--linux-device-add', 'c:1:3:dev/null'], /is not an absolute path/],
    [['--linux-device-add', 'c:1:3:/dev/null:fileMode=rw'], /--linux-device-add: "rw" is not a file mode/],
    [['--linux-device-add', 'c:1:3:/dev/null:fileMode=0o10000'], /is not a file mode/],
    [['--linux-device-add', 'c:1:3:/dev/null:fileMode=0689'], /is not a file mode/],
    [['--linux-device-add', 'c:1:3:/dev/null:owner=0'], /is not fileMode=M, uid=U or gid=G/],
    [['--linux-device-cgroup-add', 'permit,type=c'], /--linux-device-cgroup-add: .*'allow' or 'deny'/],
    [['--linux-device-cgroup-add', 'allow,typ=c'], /is not type=, major=, minor= or access=/],
    [['--linux-device-cgroup-add', 'allow,access=rx'], /is not an access of r, w and m/],
  ]);
});

describe('paths, sysctls, labels, rootfs', () => {
  table([
    [['--linux-masked-paths', '/proc/kcore', '--linux-readonly-paths', '/proc/sys'], (s) => [s.linux?.maskedPaths, s.linux?.readonlyPaths], [['/proc/kcore'], ['/proc/sys']]],
    [['--linux-sysctl', 'net.ipv4.ip_forward=1'], (s) => s.linux?.sysctl, { 'net.ipv4.ip_forward': '1' }],
    [['--label', 'a=b=c', '--label', 'e='], (s) => s.annotations, { a: 'b=c', e: '' }],
    [['--linux-cgroups-path', '/m/c', '--linux-mount-label', 'ml', '--linux-rootfs-propagation', 'rslave'], (s) => [s.linux?.cgroupsPath, s.linux?.mountLabel, s.linux?.rootfsPropagation], ['/m/c', 'ml', 'rslave']],
    [['--rootfs-path', '/b/rootfs', '--rootfs-readonly'], (s) => s.root, { path: '/b/rootfs', readonly: true }],
    [['--hostname', 'h', '--domainname', 'd', '--oci-version', '1.2.0'], (s) => [s.hostname, s.domainname, s.ociVersion], ['h', 'd', '1.2.0']],
  ]);
  errors([
    [['--linux-masked-paths', 'proc/kcore'], /--linux-masked-paths: .*absolute/],
    [['--linux-sysctl', 'a=b=c'], /--linux-sysctl: "a=b=c" is not KEY=VALUE/],
    [['--label', 'novalue'], /--label: "novalue" is not KEY=VALUE/],
    [['--linux-rootfs-propagation', 'bogus'], /--linux-rootfs-propagation/],
  ]);
});
