// Mount and hook options; both take runtime-spec JSON objects, decoded strictly.
import { decodeAs } from './go-json.js';
import type { GenerateOptions } from './option-table.js';
import type { Hook, HookKind, Mount, Spec } from './spec.js';
import { absolute, bad, parseJson } from './values.js';

export function parseMount(value: string, flag = '--mounts-add'): Mount {
  const mount = decodeAs<Mount>(parseJson(value, flag), 'Mount', flag);
  if (!mount.destination) throw bad(flag, value, 'has no "destination"');
  return mount;
}

export function parseHook(value: string, flag: string): Hook {
  const hook = decodeAs<Hook>(parseJson(value, flag), 'Hook', flag);
  if (hook.path === undefined) throw bad(flag, value, 'has no "path"');
  absolute(hook.path, flag);
  if (hook.timeout !== undefined && hook.timeout <= 0) throw bad(flag, value, 'has a timeout that is not above 0');
  return hook;
}

/** --mounts-remove-all, then -remove DESTINATION (the first such mount), then -add JSON. */
export function applyMounts(spec: Spec, o: GenerateOptions): void {
  if (o.mountsRemoveAll) spec.mounts = [];
  for (const dest of o.mountsRemove ?? []) {
    const i = spec.mounts?.findIndex((m) => m.destination === dest) ?? -1;
    if (i >= 0) spec.mounts!.splice(i, 1);
  }
  for (const m of o.mountsAdd ?? []) (spec.mounts ??= []).push(parseMount(m));
}

const HOOK_OPTIONS: [HookKind, keyof GenerateOptions, keyof GenerateOptions, string][] = [
  ['poststart', 'hooksPoststartRemoveAll', 'hooksPoststartAdd', 'poststart'],
  ['poststop', 'hooksPoststopRemoveAll', 'hooksPoststopAdd', 'poststop'],
  ['prestart', 'hooksPrestartRemoveAll', 'hooksPrestartAdd', 'prestart'],
  ['createRuntime', 'hooksCreateRuntimeRemoveAll', 'hooksCreateRuntimeAdd', 'create-runtime'],
  ['createContainer', 'hooksCreateContainerRemoveAll', 'hooksCreateContainerAdd', 'create-container'],
  ['startContainer', 'hooksStartContainerRemoveAll', 'hooksStartContainerAdd', 'start-container'],
];

/** For each hook kind: remove-all, then add. */
export function applyHooks(spec: Spec, o: GenerateOptions): void {
  for (const [kind, removeAll, add, flagName] of HOOK_OPTIONS) {
    if (o[removeAll] && spec.hooks) spec.hooks[kind] = [];
    for (const h of (o[add] as string[] | undefined) ?? []) {
      ((spec.hooks ??= {})[kind] ??= []).push(parseHook(h, `--hooks-${flagName}-add`));
    }
  }
}
