import { writeFileSync } from 'node:fs';
import { Command, CommanderError, Option } from './commander.js';
import { usageError } from '../errors.js';
import { assertValid } from '../image/schema.js';
import { generate, GENERATE_OPTIONS, optionKey, seccompOnly, type GenerateOptions } from '../generate/options.js';
import type { Spec } from '../generate/spec.js';

const BOOL_KEYS = new Set(GENERATE_OPTIONS.filter((d) => d.kind === 'bool').map((d) => optionKey(d.flag)));
const LONG_NAMES = new Set(GENERATE_OPTIONS.map((d) => d.flag.split(' ')[0]!.slice(2)));

/**
 * Go's flag syntax, which oci-runtime-tool users have in scripts: `-name value` for `--name value`,
 * and `--flag=true|false` for boolean flags (commander knows neither). Stops at `--`.
 */
function rewriteGoFlags(argv: readonly string[]): { argv: string[]; bools: Record<string, boolean> } {
  const out: string[] = [];
  const bools: Record<string, boolean> = {};
  let takesValue = false;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (!takesValue && /^-[A-Za-z]/.test(arg) && LONG_NAMES.has(arg.slice(1).split('=')[0]!)) arg = `-${arg}`;
    const m = /^--([^=]+)=(true|false)$/.exec(arg);
    if (!takesValue && m && BOOL_KEYS.has(optionKey(`--${m[1]}`))) {
      bools[optionKey(`--${m[1]}`)] = m[2] === 'true';
      takesValue = false;
      continue;
    }
    const name = /^--([^=]+)$/.exec(arg)?.[1];
    takesValue = !takesValue && name !== undefined && LONG_NAMES.has(name) && !BOOL_KEYS.has(optionKey(`--${name}`));
    out.push(arg);
  }
  return { argv: out, bools };
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/**
 * Adds every generate option (and the command after --) to a command; `read()` gives the parsed
 * GenerateOptions. `unpack` shares them, less the ones it owns.
 */
export function addGenerateOptions(cmd: Command, exclude: readonly string[] = []): () => GenerateOptions {
  cmd.argument('[command...]', 'command to run in the container, given after -- (instead of --args)');
  for (const def of GENERATE_OPTIONS) {
    if (exclude.includes(def.flag.split(' ')[0]!)) continue;
    const opt = new Option(def.flag, def.extra ? `${def.help} [oci-tool]` : def.help);
    if (def.kind === 'list' || def.kind === 'csv') opt.argParser(collect);
    cmd.addOption(opt);
  }
  let bools: Record<string, boolean> = {};
  const parseOptions = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (argv: string[]) => {
    const rewritten = rewriteGoFlags(argv);
    bools = rewritten.bools;
    return parseOptions(rewritten.argv);
  };
  return (): GenerateOptions => {
    const options = { ...cmd.opts(), ...bools } as GenerateOptions;
    const command = cmd.processedArgs[cmd.processedArgs.length - 1] as string[] | undefined;
    if (command && command.length > 0) {
      if (options.args !== undefined) throw usageError('give the command either with --args or after --, not both');
      options.args = command;
    }
    return options;
  };
}

/** The command with every option; `read()` gives the parsed GenerateOptions. */
function defineCommand(): { cmd: Command; read: () => GenerateOptions } {
  const cmd = new Command('generate')
    .description('generate an OCI runtime config.json (runtime-spec 1.3), as oci-runtime-tool generate does');
  const read = addGenerateOptions(cmd);
  cmd.addHelpText('after', `
Values are strict: a number, mode, mapping, capability or JSON that does not parse is an error (exit 2).
Byte sizes take units: 512m, 1g, 1024k. Options marked [oci-tool] are not in oci-runtime-tool.

Examples:
  oci-tool generate --output config.json
  oci-tool generate --args sleep 10 --hostname web --env APP_ENV=prod
  oci-tool generate --rootless -- sh -c 'echo hi'
  oci-tool generate --template base.json --linux-mem-limit 512m --linux-cpu-quota 50000
  oci-tool generate --process-cap-drop CAP_NET_RAW --linux-seccomp-errno ptrace,personality
  oci-tool generate --mounts-add '{"destination":"/tmp","type":"tmpfs","source":"tmpfs","options":["nosuid"]}'
  oci-tool generate --hooks-create-runtime-add '{"path":"/usr/bin/netns-setup","args":["netns-setup"]}'
  oci-tool generate --linux-namespace-add user --linux-uidmappings 100000:0:65536 --linux-gidmappings 100000:0:65536`);
  return { cmd, read };
}

/** Parse `generate`'s arguments (after the word generate) into GenerateOptions; bad flags are usage errors. */
export function parseGenerateArgs(argv: string[]): GenerateOptions {
  const { cmd, read } = defineCommand();
  cmd.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) throw usageError(e.message.replace(/^error: /, ''));
    throw e;
  }
  return read();
}

/** The config as written: 2-space JSON and a newline. */
export function renderGenerated(options: GenerateOptions, template?: Spec): string {
  const spec = generate(options, template);
  // Whatever the template and options were, only a config valid for runtime-spec 1.3 is written.
  assertValid('runtime-config', spec, 'generated config');
  const doc = options.linuxSeccompOnly ? seccompOnly(spec) : spec;
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function generateCommand(): Command {
  const { cmd, read } = defineCommand();
  return cmd.action(() => {
    const options = read();
    const text = renderGenerated(options);
    if (options.output !== undefined) writeFileSync(options.output, text);
    else process.stdout.write(text);
  });
}
