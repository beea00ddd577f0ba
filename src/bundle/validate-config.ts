// Semantic rules for the platform-neutral parts of config.json (after runtime-tools' validate.go),
// checked for Linux: version, root, process, hostname, mounts, hooks.
import { lstat, readlink, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CAPABILITIES, HOOK_KINDS, RLIMITS } from './validate-names.js';
import { asArray, asObject, pointer, quote, type AddProblem, type Json } from './validate-report.js';

export interface BundleContext {
  readonly dir: string;
  readonly config: Json;
  /** linux.namespaces by type; `created` when one entry has no path (a new namespace). */
  readonly namespaces: ReadonlyMap<string, { created: boolean }>;
  readonly add: AddProblem;
}

// SemVer 2.0.0 (semver.org's regular expression).
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export function checkVersion({ config, add }: BundleContext): void {
  const v = config.ociVersion;
  if (typeof v !== 'string') return; // the schema reports it
  const m = SEMVER.exec(v);
  if (!m) add('/ociVersion', 'ociVersion.semver', `${quote(v)} is not a SemVer 2.0.0 version`);
  else if (m[1] !== '1') add('/ociVersion', 'ociVersion.supported', `runtime-spec ${v} is not supported; oci-tool validates 1.x`);
}

/** Checks root.path and returns the root filesystem's path when it is a directory. */
export async function checkRoot({ dir, config, add }: BundleContext): Promise<string | undefined> {
  const path = asObject(config.root)?.path;
  if (typeof path !== 'string') return undefined;
  const rootfs = resolve(dir, path);
  const st = await stat(rootfs).catch(() => undefined);
  if (!st) add('/root/path', 'root.path.exists', `${quote(path)} does not exist (${rootfs})`);
  else if (!st.isDirectory()) add('/root/path', 'root.path.directory', `${quote(path)} is not a directory (${rootfs})`);
  // bundle.md: config.json and the root filesystem MUST be present in a single directory.
  if (dirname(rootfs) !== resolve(dir) || rootfs === resolve(dir)) {
    add('/root/path', 'root.path.inBundle', `${quote(path)} must name a directory inside the bundle ${resolve(dir)}`);
  }
  return st?.isDirectory() ? rootfs : undefined;
}

export async function checkProcess(ctx: BundleContext, rootfs: string | undefined): Promise<void> {
  const proc = asObject(ctx.config.process);
  if (!proc) return;
  const { add } = ctx;
  const args = proc.args;
  if (args === undefined || (Array.isArray(args) && args.length === 0)) {
    add('/process/args', 'process.args.nonEmpty', 'must have at least one entry (the program to run)');
  } else if (Array.isArray(args) && typeof args[0] === 'string' && args[0].startsWith('/') && rootfs) {
    const found = await resolveInRoot(rootfs, args[0]);
    const st = found ? await stat(found).catch(() => undefined) : undefined;
    // A program missing from the rootfs may still be mounted in; only a present, unrunnable one is wrong.
    if (st && (st.isDirectory() || (st.mode & 0o111) === 0)) {
      add('/process/args/0', 'process.args.executable', `${quote(args[0])} is not executable in the root filesystem`);
    }
  }
  const cwd = proc.cwd;
  if (typeof cwd === 'string' && !cwd.startsWith('/')) add('/process/cwd', 'process.cwd.absolute', `${quote(cwd)} is not an absolute path`);
  checkEnv(asArray(proc.env), '/process/env', 'process.env.format', add);
  checkCapabilities(asObject(proc.capabilities), add);
  checkRlimits(asArray(proc.rlimits), add);
  const profile = proc.apparmorProfile;
  if (typeof profile === 'string' && /[\p{Cc}]/u.test(profile)) {
    add('/process/apparmorProfile', 'process.apparmorProfile.format', `${quote(profile)} is not an AppArmor profile name`);
  }
  checkSelinuxLabel(proc.selinuxLabel, '/process/selinuxLabel', 'process.selinuxLabel.format', add);
}

// runtime-tools' envValid, but the name must not be empty.
const ENV = /^[\p{L}\p{Nd}_]+=/u;

export function checkEnv(env: readonly unknown[], at: string, rule: string, add: AddProblem): void {
  env.forEach((e, i) => {
    if (typeof e === 'string' && !ENV.test(e)) add(`${at}/${i}`, rule, `${quote(e)} is not NAME=VALUE with a name of letters, digits and underscores`);
  });
}

// SELinux context user:role:type[:level]; the level may itself contain colons (s0:c1,c2).
const SELINUX = /^[^:\s]+:[^:\s]+:[^:\s]+(?::\S+)?$/;

export function checkSelinuxLabel(v: unknown, at: string, rule: string, add: AddProblem): void {
  if (typeof v === 'string' && v !== '' && !SELINUX.test(v)) add(at, rule, `${quote(v)} is not an SELinux context (user:role:type[:level])`);
}

function checkCapabilities(caps: Json | undefined, add: AddProblem): void {
  if (!caps) return;
  const named = (set: string) => new Set(asArray(caps[set]).filter((c): c is string => typeof c === 'string'));
  const permitted = named('permitted');
  const inheritable = named('inheritable');
  for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']) {
    asArray(caps[set]).forEach((c, i) => {
      if (typeof c !== 'string') return;
      const at = pointer('process', 'capabilities', set, i);
      if (!CAPABILITIES.has(c)) add(at, 'process.capabilities.known', `${quote(c)} is not a Linux capability (capabilities(7))`);
      // The kernel refuses these sets (capset(2)): effective ⊆ permitted, ambient ⊆ permitted ∩ inheritable.
      else if (set === 'effective' && !permitted.has(c)) add(at, 'process.capabilities.effective', `${c} is effective but not permitted`);
      else if (set === 'ambient' && !(permitted.has(c) && inheritable.has(c))) {
        add(at, 'process.capabilities.ambient', `${c} is ambient but not both permitted and inheritable`);
      }
    });
  }
}

function checkRlimits(rlimits: readonly unknown[], add: AddProblem): void {
  const first = new Map<string, number>();
  rlimits.forEach((r, i) => {
    const rl = asObject(r);
    if (!rl || typeof rl.type !== 'string') return;
    const at = pointer('process', 'rlimits', i);
    if (!RLIMITS.has(rl.type)) add(`${at}/type`, 'process.rlimits.known', `${quote(rl.type)} is not a Linux rlimit (getrlimit(2))`);
    const j = first.get(rl.type);
    if (j !== undefined) add(`${at}/type`, 'process.rlimits.unique', `${rl.type} is already set by /process/rlimits/${j}`);
    else first.set(rl.type, i);
    if (typeof rl.soft === 'number' && typeof rl.hard === 'number' && rl.hard < rl.soft) {
      add(at, 'process.rlimits.order', `${rl.type}: hard limit ${rl.hard} is below soft limit ${rl.soft}`);
    }
  });
}

/** hostname and domainname change the UTS namespace, which must be the container's own. */
export function checkHostname({ config, namespaces, add }: BundleContext): void {
  for (const key of ['hostname', 'domainname']) {
    const v = config[key];
    if (typeof v === 'string' && v !== '' && !namespaces.has('uts')) {
      add(`/${key}`, `${key}.utsNamespace`, `setting the ${key} needs a uts namespace in /linux/namespaces`);
    }
  }
}

export function checkMounts({ config, namespaces, add }: BundleContext): void {
  asArray(config.mounts).forEach((m, i) => {
    const mount = asObject(m);
    if (!mount) return;
    const at = pointer('mounts', i);
    const dest = mount.destination;
    if (typeof dest === 'string' && !dest.startsWith('/')) {
      add(`${at}/destination`, 'mounts.destination.absolute', `${quote(dest)} is not absolute (relative destinations are deprecated)`);
    }
    const options = asArray(mount.options);
    const bind = options.includes('bind') || options.includes('rbind');
    if (bind && (typeof mount.source !== 'string' || mount.source === '')) {
      add(`${at}/source`, 'mounts.source.bind', 'a bind mount needs a source (absolute or relative to the bundle)');
    }
    // config.md: idmap without the mount's own mappings needs the container's user namespace.
    const idmap = options.findIndex((o) => o === 'idmap' || o === 'ridmap');
    if (idmap >= 0 && mount.uidMappings === undefined && mount.gidMappings === undefined && !namespaces.has('user')) {
      add(`${at}/options/${idmap}`, 'mounts.idmap.userNamespace', `${String(options[idmap])} needs uidMappings and gidMappings or a user namespace`);
    }
  });
}

export function checkHooks({ config, add }: BundleContext): void {
  const hooks = asObject(config.hooks);
  if (!hooks) return;
  for (const kind of HOOK_KINDS) {
    asArray(hooks[kind]).forEach((h, i) => {
      const hook = asObject(h);
      if (!hook) return;
      const at = pointer('hooks', kind, i);
      if (typeof hook.path === 'string' && !hook.path.startsWith('/')) {
        add(`${at}/path`, 'hooks.path.absolute', `${quote(hook.path)} is not an absolute path`);
      }
      checkEnv(asArray(hook.env), `${at}/env`, 'hooks.env.format', add);
    });
  }
}

/** Follows `path` inside `root` the way the container will see it: symlinks never leave root. */
async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const split = (p: string) => p.split('/').filter((s) => s !== '' && s !== '.');
  const todo = split(path);
  let done: string[] = [];
  for (let hops = 0, part = todo.shift(); part !== undefined; part = todo.shift()) {
    if (part === '..') {
      done.pop();
      continue;
    }
    const here = join(root, ...done, part);
    const st = await lstat(here).catch(() => undefined);
    if (!st) return undefined;
    if (!st.isSymbolicLink()) {
      done.push(part);
      continue;
    }
    if (++hops > 40) return undefined;
    const target = await readlink(here);
    if (isAbsolute(target)) done = [];
    todo.unshift(...split(target));
  }
  return join(root, ...done);
}
