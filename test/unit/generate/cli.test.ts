// The generate command: every oci-runtime-tool option exists, parsing, Go flag syntax, output.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { generateCommand, parseGenerateArgs } from '../../../src/cli/generate.js';
import { GENERATE_OPTIONS, optionKey } from '../../../src/generate/options.js';
import { DEFAULT } from './helpers.js';

// The flags of runtime-tools v0.9.0 cmd/oci-runtime-tool/generate.go, plus its global --host-specific.
const GO_FLAGS = `args domainname env env-file hooks-poststart-add hooks-poststart-remove-all hooks-poststop-add
hooks-poststop-remove-all hooks-prestart-add hooks-prestart-remove-all hostname label linux-apparmor linux-blkio-leaf-weight
linux-blkio-leaf-weight-device linux-blkio-read-bps-device linux-blkio-read-iops-device linux-blkio-weight linux-blkio-weight-device
linux-blkio-write-bps-device linux-blkio-write-iops-device linux-cgroups-path linux-cpu-period linux-cpu-quota linux-cpus
linux-cpu-shares linux-device-add linux-device-remove linux-device-remove-all linux-device-cgroup-add linux-device-cgroup-remove
linux-disable-oom-kill linux-gidmappings linux-hugepage-limits-add linux-hugepage-limits-drop linux-intelRdt-closid
linux-intelRdt-l3CacheSchema linux-masked-paths linux-mem-kernel-limit linux-mem-kernel-tcp linux-mem-limit linux-mem-reservation
linux-mems linux-mem-swap linux-mem-swappiness linux-mount-label linux-namespace-add linux-namespace-remove linux-namespace-remove-all
linux-network-classid linux-network-priorities linux-oom-score-adj linux-pids-limit linux-readonly-paths linux-realtime-period
linux-realtime-runtime linux-rootfs-propagation linux-seccomp-allow linux-seccomp-arch linux-seccomp-default
linux-seccomp-default-force linux-seccomp-errno linux-seccomp-kill linux-seccomp-only linux-seccomp-remove linux-seccomp-remove-all
linux-seccomp-trace linux-seccomp-trap linux-selinux-label linux-sysctl linux-uidmappings mounts-add mounts-remove mounts-remove-all
oci-version os output privileged process-cap-add process-cap-add-ambient process-cap-add-bounding process-cap-add-effective
process-cap-add-inheritable process-cap-add-permitted process-cap-drop process-cap-drop-all process-cap-drop-ambient
process-cap-drop-bounding process-cap-drop-effective process-cap-drop-inheritable process-cap-drop-permitted process-consolesize
process-cwd process-gid process-groups process-no-new-privileges process-rlimits-add process-rlimits-remove
process-rlimits-remove-all process-terminal process-uid process-umask process-username rootfs-path rootfs-readonly solaris-anet
solaris-capped-cpu-ncpus solaris-capped-memory-physical solaris-capped-memory-swap solaris-limitpriv solaris-max-shm-memory
solaris-milestone template vm-hypervisor-parameters vm-hypervisor-path vm-image-format vm-image-path vm-kernel-initrd
vm-kernel-parameters vm-kernel-path windows-devices windows-hyperv-utilityVMPath windows-ignore-flushes-during-boot
windows-layer-folders windows-network windows-network-allowunqualifieddnsquery windows-network-networkNamespace
windows-resources-cpu windows-resources-memory-limit windows-resources-storage windows-servicing host-specific`.split(/\s+/);

const names = GENERATE_OPTIONS.map((d) => d.flag.split(' ')[0]!.slice(2));

describe('options', () => {
  test('every oci-runtime-tool option is there, under the same name', () => {
    expect(GO_FLAGS).toHaveLength(132);
    expect(GO_FLAGS.filter((f) => !names.includes(f))).toEqual([]);
    expect(GENERATE_OPTIONS.filter((d) => !('extra' in d && d.extra) && !GO_FLAGS.includes(d.flag.split(' ')[0]!.slice(2)))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
  });
  test.each(GENERATE_OPTIONS.map((d) => [d.flag, d.kind] as const))('%s parses to its key', (flag, kind) => {
    const name = flag.split(' ')[0]!;
    const argv = kind === 'bool' ? [name] : [name, 'v'];
    const want = kind === 'bool' ? true : kind === 'str' || kind === 'num' ? 'v' : ['v'];
    expect(parseGenerateArgs(argv)).toEqual({ [optionKey(flag)]: want });
  });
  test('single-value options: the last one wins; list options accumulate', () => {
    expect(parseGenerateArgs(['--hostname', 'a', '--hostname', 'b', '--env', 'A=1', '--env', 'B=2'])).toEqual({ hostname: 'b', env: ['A=1', 'B=2'] });
  });
  test('Go flag syntax: -name and --bool=true|false', () => {
    expect(parseGenerateArgs(['-hostname', 'h', '-rootfs-readonly=false', '--process-terminal=true', '-env=A=1', '--hostname=-x']))
      .toEqual({ hostname: '-x', rootfsReadonly: false, processTerminal: true, env: ['A=1'] });
    // A value that looks like a flag stays a value, and nothing after -- is rewritten.
    expect(parseGenerateArgs(['--hostname', '-privileged', '--', '-privileged'])).toEqual({ hostname: '-privileged', args: ['-privileged'] });
  });
  test('unknown options and missing values are usage errors', () => {
    expect(() => parseGenerateArgs(['--nope'])).toThrow(expect.objectContaining({ code: 'OCI_ERR_USAGE', message: "unknown option '--nope'" }));
    expect(() => parseGenerateArgs(['--hostname'])).toThrow(expect.objectContaining({ code: 'OCI_ERR_USAGE' }));
  });
});

describe('the command', () => {
  afterEach(() => vi.restoreAllMocks());
  async function run(argv: string[]): Promise<string> {
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += String(chunk);
      return true;
    });
    const program = new Command('oci-tool').exitOverride().addCommand(generateCommand().exitOverride());
    await program.parseAsync(['generate', ...argv], { from: 'user' });
    return out;
  }

  test('writes 2-space JSON and a newline to stdout', async () => {
    const out = await run(['-hostname', 'web', '--arch', 'amd64', '--args', 'sleep', '10']);
    expect(out).toBe(`${JSON.stringify({ ...DEFAULT, process: { ...DEFAULT.process, args: ['sleep', '10'] }, hostname: 'web' }, null, 2)}\n`);
  });
  test('--output writes the file, nothing to stdout', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gen-out-')), 'config.json');
    expect(await run(['--output', file, '--', 'sh', '-c', 'echo hi'])).toBe('');
    expect(JSON.parse(readFileSync(file, 'utf8')).process.args).toEqual(['sh', '-c', 'echo hi']);
    expect(readFileSync(file, 'utf8').endsWith('}\n')).toBe(true);
  });
  test('--linux-seccomp-only writes the seccomp section', async () => {
    expect(JSON.parse(await run(['--linux-seccomp-only', '--arch', 'amd64']))).toEqual(DEFAULT.linux?.seccomp);
    await expect(run(['--linux-seccomp-only', '--privileged'])).rejects.toThrow(/has no seccomp section/);
  });
  test('a config the schema refuses is not written', async () => {
    await expect(run(['--os', 'windows'])).rejects.toThrow(expect.objectContaining({ code: 'OCI_ERR_INVALID_CONTENT', message: expect.stringMatching(/^generated config is invalid: \/root: is required/) }));
    expect(JSON.parse(await run(['--os', 'windows', '--rootfs-path', '\\\\?\\Volume{0b4c5e25-0000-0000-0000-100000000000}\\', '--windows-layer-folders', 'C:\\l'])).root)
      .toEqual({ path: '\\\\?\\Volume{0b4c5e25-0000-0000-0000-100000000000}\\' });
  });
  test('--help lists every option and examples', () => {
    const help = generateCommand().helpInformation() + '';
    for (const n of names) expect(help).toContain(`--${n}`);
    const cmd = generateCommand();
    let text = '';
    cmd.exitOverride().configureOutput({ writeOut: (s) => (text += s) });
    expect(() => cmd.parse(['--help'], { from: 'user' })).toThrow();
    expect(text).toContain('Examples:');
    expect(text).toContain('[oci-tool]');
  });
});
