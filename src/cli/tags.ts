import { oneLine } from '../errors.js';
import { Command } from './commander.js';
import { addRegistryOptions, remoteOptions, type RegistryFlags } from './registry-flags.js';

interface TagsFlags extends RegistryFlags {
  json?: boolean;
}

export function tagsCommand(): Command {
  const cmd = new Command('tags')
    .description("list a repository's tags on a registry, one a line (all pages)")
    .argument('<repository>', 'repository without tag, e.g. busybox, ghcr.io/org/app, 127.0.0.1:5000/team/app')
    .option('--json', 'print {"repository", "tags"} as JSON');
  return addRegistryOptions(cmd)
    .addHelpText('after', `
Examples:
  oci-tool tags alpine
  oci-tool tags --tls-verify=false --json 127.0.0.1:5000/team/app`)
    .action(async (repository: string, flags: TagsFlags) => {
      const remote = await remoteOptions(flags);
      const { listRepositoryTags } = await import('../registry/inspect.js');
      const result = await listRepositoryTags(repository, remote);
      if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else process.stdout.write(result.tags.map((t) => `${oneLine(t)}\n`).join(''));
    });
}
