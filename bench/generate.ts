// Start-up cost of `oci-tool generate --args sleep 10` against bare Node and against
// oci-runtime-tool when installed: median wall time of interleaved runs, in one process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { measure, median, type Measurement } from './measure.js';
import { printTable } from './pull.js';

const CLI = fileURLToPath(new URL('../../bin/oci-tool.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 20);

export async function benchGenerate(): Promise<void> {
  const haveTool = spawnSync('oci-runtime-tool', ['--version']).status === 0;
  const commands: [string, string, string[]][] = [
    ['node -e 0', process.execPath, ['-e', '0']],
    ['oci-tool generate', process.execPath, [CLI, 'generate', '--args', 'sleep', '10', '--output', '/dev/null']],
    ...(haveTool ? [['oci-runtime-tool generate', 'oci-runtime-tool', ['generate', '--args', 'sleep', '--args', '10', '--output', '/dev/null']] as [string, string, string[]]] : []),
  ];
  const samples = new Map<string, Measurement[]>(commands.map(([name]) => [name, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const [name, cmd, args] of commands) samples.get(name)?.push(await measure(cmd, args));
  }
  const base = median((samples.get('node -e 0') ?? []).map((m) => m.wallMs));
  const rows = [['command', 'median ms', 'peak MB', 'vs node -e 0']];
  for (const [name] of commands) {
    const ms = samples.get(name) ?? [];
    const wall = median(ms.map((m) => m.wallMs));
    rows.push([name, wall.toFixed(0), Math.max(...ms.map((m) => m.peakRssMb)).toFixed(0), (wall / base).toFixed(2)]);
  }
  console.log(`generate benchmark: ${RUNS} interleaved runs each, median wall time`);
  printTable(rows);
  if (!haveTool) console.log('oci-runtime-tool is not installed: no comparison with it');
}
