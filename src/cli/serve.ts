import { Command } from './commander.js';
import { oneLine, usageError } from '../errors.js';
import type { ServeEvent } from '../serve/server.js';

interface ServeFlags {
  addr: string;
  push?: boolean;
  verbose?: boolean;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('serve an OCI image layout over the registry API (distribution-spec v1.1) so that other tools can pull from it')
    .argument('<layout>', 'OCI image layout directory')
    .option('--addr <host:port>', 'address to listen on; port 0 picks a free one', '127.0.0.1:5000')
    .option('--push', 'also accept pushes: blob uploads and manifest PUTs are written into the layout')
    .option('-v, --verbose', 'log every request on stderr')
    .addHelpText('after', `
Repositories and tags come from the layout's index.json ref names (org.opencontainers.image.ref.name):
  127.0.0.1:5000/library/busybox:latest  served as library/busybox:latest (the host is ignored)
  docker.io/library/busybox:latest       as library/busybox:latest and busybox:latest
  team/app:2, busybox:1                  as that repository and tag
  v1                                     a bare tag: v1 in every repository
When several names match, one naming the repository beats a bare tag, and the last in index.json wins.
Manifests and blobs are served by digest only when reachable from index.json.
With --push, a manifest pushed to REPO:TAG is named "REPO:TAG" in index.json.

The server speaks plain HTTP: tell clients so (skopeo --tls-verify=false).
It stops on SIGINT or SIGTERM (exit 0).

Examples:
  oci-tool serve ./images
  oci-tool serve --addr 127.0.0.1:0 -v ./images
  skopeo inspect --tls-verify=false docker://127.0.0.1:5000/library/busybox:latest
  oci-tool serve --push ./images &
  skopeo copy --dest-tls-verify=false oci:./src:v1 docker://127.0.0.1:5000/team/app:v1`)
    .action(async (dir: string, flags: ServeFlags) => {
      const { host, port } = parseAddr(flags.addr);
      // Loaded here so that other commands and --help do not pay for the server.
      const { serveLayout } = await import('../serve/server.js');
      // Handlers go in before the address is printed: whoever reads it may signal at once.
      let stop = () => {};
      const stopped = new Promise<void>((resolve) => { stop = resolve; });
      process.once('SIGINT', stop).once('SIGTERM', stop);
      try {
        const server = await serveLayout({ layout: dir, host, port, push: flags.push === true, onEvent: (e) => report(e, flags.verbose === true) });
        process.stderr.write(`serving ${dir} on ${server.url}\n`);
        await stopped;
        await server.close();
      } finally {
        process.off('SIGINT', stop).off('SIGTERM', stop);
      }
    });
}

function report(e: ServeEvent, verbose: boolean): void {
  if (e.type === 'problem') process.stderr.write(`warning: ${oneLine(e.message)}\n`);
  else if (verbose) process.stderr.write(`${e.method} ${oneLine(e.path)} ${e.status} ${e.bytes}B ${e.durationMs}ms${e.aborted ? ' (aborted)' : ''}\n`);
}

/** "host:port" or "[v6]:port"; the host must be given (listening everywhere should be a choice). */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw usageError(`invalid --addr ${JSON.stringify(addr)}: expected HOST:PORT, e.g. 127.0.0.1:5000`);
  return { host: (m[1] ?? m[2]) as string, port };
}
