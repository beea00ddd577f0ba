import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { assertValid, checkDocument } from '../../../src/image/schema.js';
import type { DocumentKind } from '../../../src/image/schema.js';
import { isOciToolError } from '../../../src/errors.js';

const sha = (c: string) => `sha256:${c.repeat(64)}`;
const desc = (mediaType: string, extra: object = {}) => ({ mediaType, digest: sha('a'), size: 2, ...extra });
const posix = (extra: object = {}) => ({ ociVersion: '1.3.0', root: { path: 'rootfs' }, ...extra });
const pointers = (kind: DocumentKind, doc: unknown) => checkDocument(kind, doc).map((p) => p.pointer);

describe('checkDocument: runtime config.json', () => {
  it('accepts the v1.3 additions', () => {
    const doc = posix({
      process: {
        cwd: '/',
        args: ['sh'],
        user: { uid: 0, gid: 0, umask: 18 },
        scheduler: { policy: 'SCHED_DEADLINE', flags: ['SCHED_FLAG_RECLAIM'], runtime: 1, deadline: 2, period: 3 },
        ioPriority: { class: 'IOPRIO_CLASS_IDLE', priority: 4 },
        execCPUAffinity: { initial: '7', final: '0-3,7' },
      },
      hooks: {
        createRuntime: [{ path: '/usr/bin/a' }],
        createContainer: [{ path: '/usr/bin/b', args: ['b'], timeout: 5 }],
        startContainer: [{ path: '/usr/bin/c' }],
      },
      linux: {
        namespaces: [{ type: 'time' }, { type: 'cgroup' }],
        timeOffsets: { monotonic: { secs: -5, nanosecs: 10 }, boottime: { secs: 1 } },
        netDevices: { eth0: { name: 'ctr0' }, ens4: {} },
        intelRdt: { closID: '/', schemata: ['L3:0=7f0', 'MB:0=20'], memBwSchema: 'MB:0=20', enableMonitoring: true },
        memoryPolicy: { mode: 'MPOL_WEIGHTED_INTERLEAVE', nodes: '0-3', flags: ['MPOL_F_STATIC_NODES'] },
        personality: { domain: 'LINUX32' },
        resources: { rdma: { mlx5_1: { hcaHandles: 3 } }, unified: { 'io.weight': '10' }, pids: {} },
        seccomp: {
          defaultAction: 'SCMP_ACT_KILL_PROCESS',
          flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
          listenerPath: '/run/agent.sock',
          listenerMetadata: 'x',
          architectures: ['SCMP_ARCH_RISCV64'],
          syscalls: [
            { names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' },
            { names: ['open'], action: 'SCMP_ACT_LOG', args: [{ index: 1, value: 2, op: 'SCMP_CMP_MASKED_EQ' }] },
            { names: ['ptrace'], action: 'SCMP_ACT_KILL_THREAD' },
          ],
        },
      },
    });
    expect(checkDocument('runtime-config', doc)).toEqual([]);
  });

  it('accepts the other platform sections as the spec examples write them', () => {
    const windows = {
      ociVersion: '1.3.0',
      root: { path: '\\\\?\\Volume{ec84d99e-3f02-11e7-ac6c-00155d7682cf}\\' },
      process: { cwd: 'c:\\foo', commandLine: 'cmd /c dir', user: { username: 'containeradministrator' } },
      windows: {
        layerFolders: ['C:\\Layers\\layer1', 'C:\\scratch'],
        devices: [{ id: '24E552D7-6523-47F7-A647-D3465BF1F5CA', idType: 'class' }],
        resources: { cpu: { maximum: 5000, affinity: [{ mask: 3, group: 0 }] }, storage: { iops: 50 } },
        network: { endpointList: ['7a010682'], allowUnqualifiedDNSQuery: true, networkNamespace: 'x' },
        servicing: true,
        ignoreFlushesDuringBoot: true,
      },
    };
    expect(checkDocument('runtime-config', windows)).toEqual([]);
    const hyperv = { ociVersion: '1.3.0', windows: { layerFolders: ['C:\\scratch'], hyperv: { utilityVMPath: 'C:\\uvm' } } };
    expect(checkDocument('runtime-config', hyperv)).toEqual([]);
    const others = posix({
      solaris: { milestone: 'svc:/milestone/container:default', cappedCPU: { ncpus: '8' }, anet: [{ linkname: 'net0' }] },
      vm: {
        hypervisor: { path: '/path/to/vmm', parameters: ['opts1=foo'] },
        kernel: { path: '/path/to/vmlinuz', initrd: '/path/to/initrd.img' },
        image: { path: '/path/to/vm/rootfs.img', format: 'raw' },
        hwConfig: { vcpus: 1, memory: 4194304, iomems: [{ firstMFN: 12288, nrMFNs: 1 }], irqs: [11] },
      },
      zos: { namespaces: [{ type: 'pid', path: '/proc/1234/ns/pid' }, { type: 'uts' }] },
      freebsd: { devices: [{ path: 'pf', mode: 448 }], jail: { host: 'new', vnet: 'new', enforceStatfs: 1, allow: { mount: ['tmpfs'] } } },
    });
    expect(checkDocument('runtime-config', others)).toEqual([]);
  });

  it('names each field at fault with a JSON pointer, sorted', () => {
    const doc = { ociVersion: '1.0.0', process: { cwd: '/', args: 'sh' }, root: {} };
    expect(checkDocument('runtime-config', doc)).toEqual([
      { pointer: '/process/args', message: 'must be array' },
      { pointer: '/root/path', message: 'is required' },
    ]);
  });

  it.each([
    ['non-SemVer ociVersion', posix({ ociVersion: '1.0' }), '/ociVersion'],
    ['missing root on POSIX', { ociVersion: '1.3.0' }, '/root'],
    ['root with Hyper-V', posix({ windows: { layerFolders: ['C:\\s'], hyperv: {} } }), '/root'],
    ['empty args on POSIX', posix({ process: { cwd: '/', args: [] } }), '/process/args'],
    ['relative cwd', posix({ process: { cwd: 'tmp', args: ['sh'] } }), '/process/cwd'],
    ['relative hook path', posix({ hooks: { poststop: [{ path: 'cleanup.sh' }] } }), '/hooks/poststop/0/path'],
    ['zero hook timeout', posix({ hooks: { prestart: [{ path: '/x', timeout: 0 }] } }), '/hooks/prestart/0/timeout'],
    ['ioPriority without priority', posix({ process: { cwd: '/', args: ['a'], ioPriority: { class: 'IOPRIO_CLASS_RT' } } }), '/process/ioPriority/priority'],
    ['unknown seccomp action', posix({ linux: { seccomp: { defaultAction: 'SCMP_ACT_KILL_ALL' } } }), '/linux/seccomp/defaultAction'],
    ['listenerMetadata alone', posix({ linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'm' } } }), '/linux/seccomp/listenerPath'],
    ['syscall without names', posix({ linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_LOG' }] } } }), '/linux/seccomp/syscalls/0/names'],
    ['memoryPolicy without mode', posix({ linux: { memoryPolicy: { nodes: '0' } } }), '/linux/memoryPolicy/mode'],
    ['memBwSchema not MB:', posix({ linux: { intelRdt: { memBwSchema: 'L3:0=f' } } }), '/linux/intelRdt/memBwSchema'],
    ['hugepage size', posix({ linux: { resources: { hugepageLimits: [{ pageSize: '64kB', limit: 1 }] } } }), '/linux/resources/hugepageLimits/0/pageSize'],
    ['char device without numbers', posix({ linux: { devices: [{ type: 'c', path: '/dev/fuse' }] } }), '/linux/devices/0/major'],
    ['uidMappings alone on a mount', posix({ mounts: [{ destination: '/d', uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }] }), '/mounts/0/gidMappings'],
    ['personality domain', posix({ linux: { personality: { domain: 'BSD' } } }), '/linux/personality/domain'],
    ['uint32 overflow', posix({ linux: { uidMappings: [{ containerID: 0, hostID: 4294967296, size: 1 }] } }), '/linux/uidMappings/0/hostID'],
    ['empty annotation key', posix({ annotations: { '': 'v' } }), '/annotations/'],
    ['windows without layerFolders', posix({ windows: {} }), '/windows/layerFolders'],
    ['vm without kernel', posix({ vm: {} }), '/vm/kernel'],
    ['freebsd vnet disable', posix({ freebsd: { jail: { vnet: 'disable' } } }), '/freebsd/jail/vnet'],
    ['duplicate namespace', posix({ linux: { namespaces: [{ type: 'pid' }, { type: 'pid' }] } }), '/linux/namespaces/1/type'],
    ['duplicate rlimit', posix({ process: { cwd: '/', args: ['a'], rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }] } }), '/process/rlimits/1/type'],
  ])('rejects %s', (_name, doc, pointer) => {
    expect(pointers('runtime-config', doc)).toContain(pointer);
  });

  it('explains alternatives, enums and patterns in words', () => {
    expect(checkDocument('runtime-config', posix({ linux: { resources: { rdma: { mlx4_0: {} } } } }))).toEqual([
      { pointer: '/linux/resources/rdma/mlx4_0', message: 'needs hcaHandles or hcaObjects' },
    ]);
    const win = { ociVersion: '1.3.0', windows: { layerFolders: ['C:\\s'], hyperv: {} }, process: { cwd: 'C:\\' } };
    expect(checkDocument('runtime-config', win)).toEqual([{ pointer: '/process', message: 'needs args or commandLine' }]);
    expect(checkDocument('runtime-config', posix({ linux: { rootfsPropagation: 'rshared' } }))).toEqual([
      { pointer: '/linux/rootfsPropagation', message: 'must be one of shared, slave, private, unbindable' },
    ]);
    expect(checkDocument('runtime-config', posix({ linux: { maskedPaths: ['proc/kcore'] } }))).toEqual([
      { pointer: '/linux/maskedPaths/0', message: 'must be an absolute path' },
    ]);
  });
});

describe('checkDocument: image-spec documents', () => {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: desc('application/vnd.oci.image.config.v1+json'),
    layers: [desc('application/vnd.oci.image.layer.v1.tar+gzip')],
  };

  it('accepts valid documents of each kind', () => {
    expect(checkDocument('manifest', manifest)).toEqual([]);
    const index = { schemaVersion: 2, manifests: [desc('application/vnd.oci.image.manifest.v1+json', { platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } })] };
    expect(checkDocument('index', index)).toEqual([]);
    expect(checkDocument('descriptor', desc('text/plain', { data: 'e30=', urls: ['https://example.com/x'] }))).toEqual([]);
    expect(checkDocument('layout', { imageLayoutVersion: '1.0.0' })).toEqual([]);
    const config = { architecture: 'amd64', os: 'linux', config: null, history: null, created: null, rootfs: { type: 'layers', diff_ids: [sha('b')] } };
    expect(checkDocument('image-config', config)).toEqual([]);
  });

  it('applies the spec MUSTs upstream leaves to Go code', () => {
    expect(checkDocument('descriptor', { ...desc('a/b'), digest: sha('A') })).toEqual([
      { pointer: '/digest', message: 'must be a digest (algorithm:encoded)' },
    ]);
    expect(pointers('descriptor', { ...desc('a/b'), digest: 'sha512:abc' })).toEqual(['/digest']);
    expect(pointers('descriptor', desc('a/b', { digest: 'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8' }))).toEqual([]);
    expect(pointers('descriptor', desc('a/b', { data: 'e30' }))).toEqual(['/data']);
    const env = { architecture: 'amd64', os: 'linux', config: { Env: ['FOO'] }, rootfs: { type: 'layers', diff_ids: [] } };
    expect(checkDocument('image-config', env)).toEqual([{ pointer: '/config/Env/0', message: 'must be a VARNAME=VARVALUE entry' }]);
  });

  it('holds manifests and indexes to their OCI media type and artifact rules', () => {
    const docker = { ...manifest, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' };
    expect(checkDocument('manifest', docker)).toEqual([
      { pointer: '/mediaType', message: 'must be "application/vnd.oci.image.manifest.v1+json"' },
    ]);
    const empty = { ...manifest, config: desc('application/vnd.oci.empty.v1+json') };
    expect(checkDocument('manifest', empty)).toEqual([{ pointer: '/artifactType', message: 'is required' }]);
    expect(checkDocument('manifest', { ...empty, artifactType: 'application/vnd.example+type' })).toEqual([]);
    expect(pointers('index', { schemaVersion: 2, manifests: [], subject: 'nope' })).toEqual(['/subject']);
    expect(checkDocument('layout', { imageLayoutVersion: '2.0.0' })).toEqual([
      { pointer: '/imageLayoutVersion', message: 'must be one of 1.0.0' },
    ]);
  });

  it('reports a wrong root type at the empty pointer', () => {
    expect(checkDocument('manifest', 42)).toEqual([{ pointer: '', message: 'must be object' }]);
  });
});

describe('assertValid', () => {
  it('returns quietly for a valid document', () => {
    expect(() => assertValid('layout', { imageLayoutVersion: '1.0.0' }, 'oci-layout')).not.toThrow();
  });

  it('throws OCI_ERR_INVALID_CONTENT listing the pointers at fault on one line', () => {
    const doc = { ociVersion: '1.0.0', process: { cwd: '/', args: 'sh' }, root: {} };
    let thrown: unknown;
    try {
      assertValid('runtime-config', doc, 'config.json');
    } catch (e) {
      thrown = e;
    }
    expect(isOciToolError(thrown) && thrown.code).toBe('OCI_ERR_INVALID_CONTENT');
    expect((thrown as Error).message).toBe('config.json is invalid: /process/args: must be array; /root/path: is required');
  });

  it('names the root and keeps control characters out of the message', () => {
    expect(() => assertValid('index', [], 'index.json')).toThrow('index.json is invalid: (root): must be object');
    expect(() => assertValid('runtime-config', posix({ annotations: { 'a\nb': 1 } }), 'c')).toThrow('c is invalid: /annotations/a\\u000ab: must be string');
  });
});

describe('start-up', () => {
  const src = fileURLToPath(new URL('../../../src', import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));

  it('ships precompiled validators: nothing under src/ compiles a schema or loads Ajv', () => {
    for (const file of files(src).filter((f) => /\.(ts|js|mjs)$/.test(f))) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/new Ajv\b|from ['"]ajv['"]|require\(['"]ajv['"]\)|ajv\/dist\/(?!runtime\/)/);
    }
  });

  it('generated module is self-contained plain code', () => {
    const code = readFileSync(join(src, 'generated/validators.js'), 'utf8');
    expect(code).not.toMatch(/\brequire\(|new Function|\beval\(/);
    expect(code).not.toMatch(/^import /m);
  });
});
