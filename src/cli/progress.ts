// Renders transfer events on stderr: redrawn bars on a terminal, nothing but warnings elsewhere.
import type { TransferEvent } from '../events.js';

interface Row {
  digest: string;
  total: number;
  complete: number;
  done: boolean;
  skipped: boolean;
}

export interface ProgressRenderer {
  listener: (e: TransferEvent) => void;
  stop(): void;
}

const BAR = 24;

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export function createProgress(stream: NodeJS.WriteStream, opts: { quiet?: boolean; verbose?: boolean }): ProgressRenderer {
  const tty = stream.isTTY === true && !opts.quiet;
  const rows = new Map<string, Row>();
  const started = Date.now();
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;

  const line = (text: string) => {
    clear();
    stream.write(`${text}\n`);
    draw();
  };

  const clear = () => {
    if (drawn > 0) stream.write(`\x1b[${drawn}A\x1b[J`);
    drawn = 0;
  };

  const draw = () => {
    if (!tty) return;
    const cols = stream.columns ?? 80;
    const out: string[] = [];
    let total = 0;
    let complete = 0;
    for (const r of rows.values()) {
      total += r.total;
      complete += r.done ? r.total : r.complete;
      const frac = r.total > 0 ? Math.min(1, (r.done ? r.total : r.complete) / r.total) : 1;
      const filled = Math.round(frac * BAR);
      const state = r.skipped ? 'exists' : r.done ? 'done' : `${formatBytes(r.complete)} / ${formatBytes(r.total)}`;
      out.push(`${r.digest.slice(7, 19)} [${'='.repeat(filled)}${' '.repeat(BAR - filled)}] ${state}`.slice(0, cols - 1));
    }
    const secs = (Date.now() - started) / 1000;
    out.push(`total ${formatBytes(complete)} / ${formatBytes(total)}  ${formatBytes(secs > 0 ? complete / secs : 0)}/s`.slice(0, cols - 1));
    clear();
    stream.write(`${out.join('\n')}\n`);
    drawn = out.length;
  };

  const listener = (e: TransferEvent) => {
    switch (e.type) {
      case 'blob-start':
        rows.set(e.digest, { digest: e.digest, total: e.size, complete: e.offset, done: false, skipped: false });
        break;
      case 'blob-progress': {
        const r = rows.get(e.digest);
        if (r) r.complete = e.complete;
        break;
      }
      case 'blob-done':
        rows.set(e.digest, { digest: e.digest, total: e.size, complete: e.size, done: true, skipped: e.skipped });
        break;
      case 'retry':
        if (opts.verbose || tty) line(`retrying ${e.what} in ${(e.delayMs / 1000).toFixed(1)}s (attempt ${e.attempt}): ${e.reason}`);
        break;
      case 'warning':
        if (!opts.quiet) line(`warning: ${e.message}`);
        break;
      case 'resolved':
        if (opts.verbose) line(`resolved ${e.reference} to ${e.digest}`);
        break;
    }
    if (tty && !timer) timer = setInterval(draw, 100);
  };

  return {
    listener,
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (tty && rows.size > 0) draw();
    },
  };
}
