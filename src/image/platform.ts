// Platform parsing and selection, following containerd's platforms package (Normalize, Only) so that
// `--platform` picks the same image from an index as `ctr`, nerdctl and docker do.
import { endianness } from 'node:os';
import { OciToolError } from '../errors.js';
import type { Descriptor, ImageIndex, Platform } from './types.js';

const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;

/** Parses `os/arch[/variant]`, e.g. `linux/arm/v7`; values are kept as written (matching normalises). */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3) {
    throw new OciToolError('OCI_ERR_BAD_PLATFORM', `invalid platform "${s}": expected os/arch[/variant], e.g. linux/amd64`);
  }
  const bad = parts.find((p) => !COMPONENT_RE.test(p));
  if (bad !== undefined) {
    const why = bad === '' ? 'has an empty component' : `has an invalid component "${bad}"`;
    throw new OciToolError('OCI_ERR_BAD_PLATFORM', `invalid platform "${s}": ${why}`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return { os, architecture, ...(variant ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

const NODE_OS: Readonly<Record<string, string>> = { win32: 'windows', cygwin: 'windows', sunos: 'solaris' };
const NODE_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', ia32: '386', mipsel: 'mipsle', mips64el: 'mips64le' };

/** Maps Node's process.platform/arch to GOOS/GOARCH, the names image indexes use. */
export function platformFromNode(platform: string, arch: string, opts: { armVersion?: string; littleEndian?: boolean } = {}): Platform {
  const os = NODE_OS[platform] ?? platform;
  if (arch === 'arm64') return { os, architecture: 'arm64', variant: 'v8' };
  if (arch === 'arm') {
    const v = opts.armVersion && /^\d+$/.test(opts.armVersion) ? opts.armVersion : '7';
    return { os, architecture: 'arm', variant: `v${v}` };
  }
  if (arch === 'ppc64' && opts.littleEndian) return { os, architecture: 'ppc64le' };
  return { os, architecture: NODE_ARCH[arch] ?? arch };
}

export function hostPlatform(): Platform {
  const armVersion = (process.config.variables as unknown as Record<string, unknown>).arm_version;
  return platformFromNode(process.platform, process.arch, {
    ...(armVersion !== undefined ? { armVersion: String(armVersion) } : {}),
    littleEndian: endianness() === 'LE',
  });
}

/** containerd's Normalize: canonical os/arch names, default variants dropped (arm64 v8, amd64 v1) or made explicit (arm v7). */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (arch) {
    case 'i386': arch = '386'; variant = ''; break;
    case 'x86_64': case 'x86-64': case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64': case 'arm64':
      arch = 'arm64';
      if (variant === '8' || variant === 'v8') variant = '';
      break;
    case 'armhf': arch = 'arm'; variant = 'v7'; break;
    case 'armel': arch = 'arm'; variant = 'v6'; break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (/^[568]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  const { variant: _v, ...rest } = p;
  const features = p['os.features'] ? [...new Set(p['os.features'])].sort() : undefined;
  return { ...rest, os, architecture: arch, ...(variant ? { variant } : {}), ...(features ? { 'os.features': features } : {}) };
}

type Candidate = { arch: string; variant: string };

// containerd's platformVector: what a host runs, best first. Assumes a normalised `arch`/`variant`.
function compatible(arch: string, variant: string): Candidate[] {
  const out: Candidate[] = [{ arch, variant }];
  const n = Number(/^v(\d+)$/.exec(variant)?.[1]);
  if (arch === 'amd64') {
    for (let v = n - 1; v >= 1; v--) out.push({ arch, variant: v === 1 ? '' : `v${v}` });
    out.push({ arch: '386', variant: '' });
  } else if (arch === 'arm') {
    for (let v = n - 1; v >= 5; v--) out.push({ arch, variant: `v${v}` });
  } else if (arch === 'arm64') {
    const m = /^v(\d+)(?:\.(\d+))?$/.exec(variant || 'v8');
    let major = Number(m?.[1]);
    let minor = Number(m?.[2] ?? 0);
    if (major === 9) {
      for (let v = minor - 1; v >= 0; v--) out.push({ arch, variant: v === 0 ? 'v9' : `v9.${v}` });
      // v9.0 diverged from v8.5, so v9.x also runs v8.(x+5).
      major = 8;
      minor += 5;
      out.push({ arch, variant: `v8.${minor}` });
    }
    if (major === 8) {
      for (let v = minor - 1; v >= 0; v--) out.push({ arch, variant: v === 0 ? '' : `v8.${v}` });
    }
    if (major >= 8) out.push(...compatible('arm', 'v8'));
  }
  return out;
}

/**
 * containerd's platforms.Only: a rank for a candidate platform (0 is an exact match, lower is
 * better), or undefined when `want` cannot run it. os.version is not compared.
 */
export function platformMatcher(want: Platform): (p: Platform | undefined) => number | undefined {
  const w = normalizePlatform(want);
  const order = compatible(w.architecture, w.variant ?? '');
  const have = new Set(w['os.features']);
  return (p) => {
    if (!p) return undefined;
    const c = normalizePlatform(p);
    if (c.os !== w.os) return undefined;
    // An image needing OS features runs only where all of them are present.
    if (c['os.features']?.some((f) => !have.has(f))) return undefined;
    const i = order.findIndex((o) => o.arch === c.architecture && o.variant === (c.variant ?? ''));
    return i < 0 ? undefined : i;
  };
}

/** BuildKit attaches provenance/SBOM manifests to indexes under an unknown/unknown platform. */
export function isAttestationManifest(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
    || (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}

/** The index entry that best runs on `want`; `where` (usually the reference) names the index in errors. */
export function selectManifest(index: ImageIndex, want: Platform, where: string): Descriptor {
  const rank = platformMatcher(want);
  let best: Descriptor | undefined;
  let bestRank = Infinity;
  const available: string[] = [];
  for (const d of index.manifests) {
    if (!d.platform || isAttestationManifest(d)) continue;
    available.push(formatPlatform(d.platform));
    const r = rank(d.platform);
    // Strictly less: on ties the index's own order wins.
    if (r !== undefined && r < bestRank) [best, bestRank] = [d, r];
  }
  if (best) return best;
  const listed = available.length ? [...new Set(available)].join(', ') : 'none (the index names no platforms)';
  throw new OciToolError('OCI_ERR_PLATFORM_NOT_FOUND', `no image for ${formatPlatform(want)} in ${where}; available: ${listed}`);
}
