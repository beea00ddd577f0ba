// Image config → runtime-spec config.json, per image-spec v1.1 conversion.md (umoci's ToRuntimeSpec
// for the facts). It reads only the rootfs' /etc/passwd and /etc/group (for Config.User) and writes
// nothing.
import { OciToolError } from '../errors.js';
import { marshalSpec } from '../generate/go-json.js';
import { applyRootless, currentIds, type RootlessIds } from '../generate/rootless.js';
import { defaultSpec, type IDMapping, type Spec } from '../generate/spec.js';
import type { ImageConfig } from '../image/types.js';
import { resolveUser } from './passwd.js';

export interface ToRuntimeSpecOptions {
  /** Host path of the unpacked rootfs; only its /etc/passwd and /etc/group are read. */
  rootfs: string;
  /** root.path in config.json (default `rootfs`). */
  rootfsPath?: string;
  /** The config to start from (default: defaultSpec() for the image's architecture). */
  template?: Spec;
  /** The image manifest's annotations. */
  annotations?: Readonly<Record<string, string>>;
  /** Apply `generate --rootless`: a user namespace mapping the calling user to root, no cgroup limits. */
  rootless?: boolean;
  /** The calling user for `rootless` (default: this process's effective IDs). */
  ids?: RootlessIds;
}

const A = 'org.opencontainers.image.';
const invalid = (msg: string) => new OciToolError('OCI_ERR_INVALID_CONTENT', msg);

// Image configs are untrusted JSON: check the shape of each field used.
function strings(v: unknown, where: string): readonly string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(`image config ${where} is not a list of strings`);
  return v;
}

function stringMap(v: unknown, where: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw invalid(`image config ${where} is not a map of strings`);
  }
  return v as Record<string, string>;
}

function optString(v: unknown, where: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(`image config ${where} is not a string`);
  return v;
}

const envName = (e: string) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);

/** Template env with Config.Env merged in: an image variable replaces the template's in place. */
function mergeEnv(base: readonly string[], image: readonly string[]): string[] {
  const env = [...base];
  for (const e of image) {
    const name = envName(e);
    if (!e.includes('=') || name === '') throw invalid(`image config Config.Env entry ${JSON.stringify(e)} is not NAME=VALUE`);
    const at = env.findIndex((x) => envName(x) === name);
    if (at >= 0) env[at] = e;
    else env.push(e);
  }
  return env;
}

/**
 * Precedence, lowest first: template, manifest annotations, annotations implied by the config,
 * Config.Labels. conversion.md: Labels beat implied and manifest annotations; between those two it
 * says nothing, and the config is the conversion's source, so its values beat the manifest's.
 */
function annotationsFor(image: ImageConfig, template: Spec, manifest: Readonly<Record<string, string>>): Record<string, string> {
  const cfg = image.config ?? {};
  const implied: Record<string, string | undefined> = {
    [`${A}os`]: image.os,
    [`${A}architecture`]: optString(image.architecture, 'architecture'),
    [`${A}variant`]: optString(image.variant, 'variant'),
    [`${A}os.version`]: optString(image['os.version'], 'os.version'),
    [`${A}os.features`]: strings(image['os.features'], 'os.features').join(',') || undefined,
    [`${A}author`]: optString(image.author, 'author'),
    [`${A}created`]: optString(image.created, 'created'),
    [`${A}stopSignal`]: optString(cfg.StopSignal, 'Config.StopSignal'),
    // Sorted, as umoci does: JSON key order is not meaningful.
    [`${A}exposedPorts`]: Object.keys(objectField(cfg.ExposedPorts, 'Config.ExposedPorts')).sort().join(',') || undefined,
  };
  const out: Record<string, string> = { ...template.annotations, ...stringMap(manifest, 'manifest annotations') };
  for (const [k, v] of Object.entries(implied)) if (v !== undefined) out[k] = v;
  Object.assign(out, stringMap(cfg.Labels, 'Config.Labels'));
  if ('' in out) throw invalid('image config Config.Labels or the manifest annotations have an empty key, which config.json cannot hold');
  return out;
}

function objectField(v: unknown, where: string): object {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`image config ${where} is not an object`);
  return v;
}

const mapped = (maps: IDMapping[] | undefined, id: number) => (maps ?? []).some((m) => id >= m.containerID && id - m.containerID < m.size);

/**
 * The runtime config for `image` (a linux image config), per image-spec conversion.md.
 * Config.Volumes makes no mounts: what backs a volume (tmpfs, a bind, a named volume) is the
 * caller's choice, and a guessed tmpfs would hide the image's content at that path.
 */
export async function toRuntimeSpec(image: ImageConfig, opts: ToRuntimeSpecOptions): Promise<Spec> {
  if (image.os !== 'linux') {
    throw new OciToolError('OCI_ERR_UNSUPPORTED', `the image is for os ${JSON.stringify(image.os)}; only linux images convert to a runtime config`);
  }
  const cfg = image.config ?? {};
  const spec: Spec = opts.template ? structuredClone(opts.template) : defaultSpec({ arch: optString(image.architecture, 'architecture') });
  const proc = (spec.process ??= { user: { uid: 0, gid: 0 }, cwd: '/' });

  const workingDir = optString(cfg.WorkingDir, 'Config.WorkingDir');
  if (workingDir !== undefined && !workingDir.startsWith('/')) throw invalid(`image config Config.WorkingDir ${JSON.stringify(workingDir)} is not an absolute path`);
  proc.cwd = workingDir ?? '/';
  proc.env = mergeEnv(proc.env ?? [], strings(cfg.Env, 'Config.Env'));
  const args = [...strings(cfg.Entrypoint, 'Config.Entrypoint'), ...strings(cfg.Cmd, 'Config.Cmd')];
  if (args.length > 0) proc.args = args;

  // No User: implementation-defined, so the template's user stands.
  const user = optString(cfg.User, 'Config.User');
  if (user !== undefined) {
    const { additionalGids, ...ids } = await resolveUser(opts.rootfs, user);
    proc.user = { ...proc.user, ...ids, ...(additionalGids && { additionalGids }) };
    if (additionalGids?.length === 0) delete proc.user.additionalGids;
  }

  spec.root = { ...spec.root, path: opts.rootfsPath ?? 'rootfs' };
  spec.annotations = annotationsFor(image, spec, opts.annotations ?? {});

  if (opts.rootless) {
    applyRootless(spec, {}, opts.ids ?? currentIds());
    // A lone-ID mapping makes the runtime deny setgroups, so supplementary groups cannot be set.
    delete proc.user.additionalGids;
    const { uid, gid } = proc.user;
    if (!mapped(spec.linux?.uidMappings, uid) || !mapped(spec.linux?.gidMappings, gid)) {
      throw new OciToolError('OCI_ERR_UNSUPPORTED',
        `the image runs as uid ${uid} gid ${gid}, but a rootless config maps only the calling user, as uid 0 gid 0`);
    }
  }
  return marshalSpec(spec) as unknown as Spec;
}
