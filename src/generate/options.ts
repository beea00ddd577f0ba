// `generate`: a runtime config from a template (or oci-runtime-tool's default) and the options of
// `oci-runtime-tool generate`, applied group by group in runtime-tools' order, plus runtime-spec v1.3 extras.
import { OciToolError, usageError } from '../errors.js';
import { applyCapabilities } from './caps.js';
import { applyLinuxExtras, applyProcessExtras } from './extras.js';
import { decodeConfig, marshalAs, marshalSpec } from './go-json.js';
import { applyDevices, applyLinuxPaths, applyNamespaces, applyRootfsPropagation } from './linux.js';
import { applyHooks, applyMounts } from './mounts-hooks.js';
import type { GenerateOptions } from './option-table.js';
import { applySolaris, applyVM, applyWindows } from './platforms.js';
import { applyConsoleSize, applyLabels, applyOomScoreAdj, applyProcess, applyRlimits } from './process.js';
import { applyResources } from './resources.js';
import { applyRootless, type RootlessIds } from './rootless.js';
import { applySeccomp } from './seccomp.js';
import { defaultSpec, GENERATE_OSES, OCI_VERSION, type Seccomp, type Spec } from './spec.js';
import { oneOf, parseJson, readText } from './values.js';

export type { GenerateOptions, GenerateOptionKey } from './option-table.js';
export { GENERATE_OPTIONS, optionKey } from './option-table.js';
export { applyCapabilities, setupPrivileged } from './caps.js';
export { applyLinuxExtras, applyProcessExtras, applyScheduler } from './extras.js';
export { applyDevices, applyLinuxPaths, applyNamespaces, applyRootfsPropagation } from './linux.js';
export { applyHooks, applyMounts } from './mounts-hooks.js';
export { applySolaris, applyVM, applyWindows } from './platforms.js';
export { applyConsoleSize, applyLabels, applyOomScoreAdj, applyProcess, applyRlimits } from './process.js';
export { applyResources } from './resources.js';
export { applyRootless } from './rootless.js';
export { applySeccomp } from './seccomp.js';

// Go GOARCH names, and Node.js names for the same machines.
const ARCHES = ['386', 'amd64', 'arm', 'arm64', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'ppc64', 'ppc64le', 'riscv64',
  's390x', 'x64', 'ia32', 'mipsel', 'loongarch64'];

/** Read a config.json to start from. */
export function loadTemplate(path: string): Spec {
  return templateFrom(parseJson(readText(path, '--template'), `--template ${path}`), `--template ${path}`);
}

/** A template's known fields must have the right types; nulls count as absent, unknown fields are kept. */
function templateFrom(value: unknown, source: string): Spec {
  const decoded = decodeConfig(value);
  if ('problem' in decoded) throw new OciToolError('OCI_ERR_BAD_CONFIG', `${source}: ${decoded.problem}`);
  return decoded.config as unknown as Spec;
}

/** The top-level and root fields: version, hostname, domainname, annotations, rootfs. */
export function applyBasics(spec: Spec, o: GenerateOptions): void {
  if (!spec.ociVersion) spec.ociVersion = OCI_VERSION;
  if (o.hostname !== undefined) spec.hostname = o.hostname;
  if (o.domainname !== undefined) spec.domainname = o.domainname;
  if (o.ociVersion !== undefined) spec.ociVersion = o.ociVersion;
  applyLabels(spec, o);
  if (o.rootfsPath !== undefined) (spec.root ??= { path: 'rootfs' }).path = o.rootfsPath;
  if (o.rootfsReadonly !== undefined) (spec.root ??= { path: 'rootfs' }).readonly = o.rootfsReadonly;
}

/** Apply every option to `spec` in place, in runtime-tools' order. */
export function applyOptions(spec: Spec, o: GenerateOptions, env: { ids?: RootlessIds } = {}): void {
  if (o.rootless) applyRootless(spec, o, env.ids);
  applyBasics(spec, o);
  applyProcess(spec, o);
  applyLinuxPaths(spec, o);
  applyCapabilities(spec, o);
  applyConsoleSize(spec, o);
  applyMounts(spec, o);
  applyHooks(spec, o);
  applyRootfsPropagation(spec, o);
  applyOomScoreAdj(spec, o);
  applyResources(spec, o);
  applyNamespaces(spec, o);
  applyRlimits(spec, o);
  applyDevices(spec, o);
  applySolaris(spec, o);
  applyVM(spec, o);
  applyWindows(spec, o);
  applyProcessExtras(spec, o);
  applyLinuxExtras(spec, o);
  applySeccomp(spec, o);
  // runtime-tools always writes these two; keep a template's values, fill them where missing.
  if (spec.root && !spec.root.path) spec.root.path = 'rootfs';
  if (spec.process && !spec.process.cwd) spec.process.cwd = '/';
}

/**
 * The config `oci-runtime-tool generate` writes for these options, as a JSON-ready object: starting
 * from `template` (or the file in `options.template`, or the default template for `options.os` and
 * `options.arch`), fields in runtime-spec order, empty optional fields left out.
 */
export function generate(options: GenerateOptions, template?: Spec, env: { ids?: RootlessIds } = {}): Spec {
  const os = oneOf(options.os ?? 'linux', GENERATE_OSES, '--os');
  if (options.arch !== undefined) oneOf(options.arch, ARCHES, '--arch');
  const spec: Spec = template
    ? templateFrom(structuredClone(template), 'template')
    : options.template !== undefined ? loadTemplate(options.template) : defaultSpec({ os, arch: options.arch });
  applyOptions(spec, options, env);
  return marshalSpec(spec) as unknown as Spec;
}

/** What --linux-seccomp-only writes: just the seccomp section. */
export function seccompOnly(spec: Spec): Seccomp {
  if (!spec.linux?.seccomp) throw usageError('--linux-seccomp-only: the config has no seccomp section');
  return marshalAs(spec.linux.seccomp, 'Seccomp') as Seccomp;
}
