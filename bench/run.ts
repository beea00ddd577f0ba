// npm run bench [-- NAME...]: runs the named benchmarks (default: all) and prints their tables.
import { benchGenerate } from './generate.js';
import { benchPull } from './pull.js';
import { benchUnpack } from './unpack.js';

const suites: Record<string, () => Promise<void>> = { pull: benchPull, generate: benchGenerate, unpack: benchUnpack };

const names = process.argv.slice(2);
for (const name of names.length ? names : Object.keys(suites)) {
  const suite = suites[name];
  if (!suite) {
    console.error(`unknown benchmark "${name}"; known: ${Object.keys(suites).join(', ')}`);
    process.exit(2);
  }
  await suite();
}
