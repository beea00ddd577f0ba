// Moves one blob from a source into a layout: skipped when present, streamed through size and
// digest checks into an ingest file, resumed with a Range request after a broken connection,
// and renamed into blobs/ only when it verifies.
import { OciToolError } from '../errors.js';
import type { BlobKind, ProgressListener } from '../events.js';
import type { Compression } from '../image/compression.js';
import { DiffIdObserver, verifyDiffIdOfFile } from '../image/diffid.js';
import type { Layout } from '../image/layout.js';
import type { BlobStream } from './remote.js';
import { backoffDelay, errorCode, isTemporaryError, wait, type RetryPolicy } from './retry.js';

export interface BlobSource {
  openBlob(digest: string, offset: number, signal?: AbortSignal): Promise<BlobStream>;
  readonly retry: RetryPolicy;
}

export interface BlobRequest {
  digest: string;
  size: number;
  kind: BlobKind;
  /** For layers: the expected digest of the uncompressed tar, checked on the way in. */
  diffId?: { digest: string; compression: Compression };
}

export interface TransferOutcome {
  skipped: boolean;
  /** Bytes received over the network for this blob. */
  received: number;
}

export async function transferBlob(source: BlobSource, layout: Layout, blob: BlobRequest, opts: { signal?: AbortSignal; onProgress?: ProgressListener } = {}): Promise<TransferOutcome> {
  const emit = opts.onProgress ?? (() => {});
  const ingest = await layout.ingest(blob, {
    signal: opts.signal,
    onWait: () => emit({ type: 'warning', message: `waiting for another process writing blob ${blob.digest}` }),
  });
  if (!ingest) {
    emit({ type: 'blob-done', digest: blob.digest, size: blob.size, kind: blob.kind, skipped: true });
    return { skipped: true, received: 0 };
  }
  emit({ type: 'blob-start', digest: blob.digest, size: blob.size, kind: blob.kind, offset: ingest.offset });
  let received = 0;
  ingest.onWritten = (n) => {
    received += n;
    emit({ type: 'blob-progress', digest: blob.digest, complete: ingest.offset, total: blob.size });
  };
  let observedWhole: DiffIdObserver | undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        if (ingest.offset < blob.size || blob.size === 0) {
          const { body, start } = await source.openBlob(blob.digest, ingest.offset, opts.signal);
          if (start !== ingest.offset) await ingest.restart();
          // The diff_id can be checked on the fly only when this stream carries the whole blob.
          const observer = blob.diffId && ingest.offset === 0 && blob.diffId.compression !== 'none'
            ? new DiffIdObserver(blob.digest, blob.diffId.digest, blob.diffId.compression) : undefined;
          await ingest.append(body, ...(observer ? [observer] : []));
          observedWhole = observer;
        }
        break;
      } catch (e) {
        if (!isTemporaryError(e)) throw e;
        if (attempt >= source.retry.attempts) {
          throw new OciToolError('OCI_ERR_NETWORK', `blob ${blob.digest}: connection broken at byte ${ingest.offset} of ${blob.size} after ${attempt} tries (${errorCode(e)}); run again to resume`, { cause: e });
        }
        const delayMs = backoffDelay(source.retry, attempt);
        emit({ type: 'retry', what: `blob ${blob.digest}`, attempt, delayMs, reason: `connection broken at byte ${ingest.offset}; resuming` });
        await wait(delayMs, opts.signal);
      }
    }
    // A layer whose tar does not match its diff_id never enters blobs/ when we saw it whole.
    if (blob.diffId && observedWhole) await checkDiffId(layout, blob, observedWhole);
    await ingest.commit();
  } catch (e) {
    await ingest.close(isContentError(e));
    throw e;
  }
  if (blob.diffId && !observedWhole) await checkDiffId(layout, blob, undefined);
  emit({ type: 'blob-done', digest: blob.digest, size: blob.size, kind: blob.kind, skipped: false });
  return { skipped: false, received };
}

async function checkDiffId(layout: Layout, blob: BlobRequest, observer: DiffIdObserver | undefined): Promise<void> {
  const diffId = blob.diffId;
  if (!diffId) return;
  if (diffId.compression === 'none') {
    if (diffId.digest !== blob.digest) {
      throw new OciToolError('OCI_ERR_DIGEST_MISMATCH', `diff_id mismatch for uncompressed layer ${blob.digest}: config says ${diffId.digest}`);
    }
    return;
  }
  if (observer) await observer.check();
  else await verifyDiffIdOfFile(layout.blobPath(blob.digest), blob.digest, diffId.digest, diffId.compression);
}

function isContentError(e: unknown): boolean {
  return e instanceof OciToolError && ['OCI_ERR_DIGEST_MISMATCH', 'OCI_ERR_SIZE_MISMATCH', 'OCI_ERR_INVALID_CONTENT'].includes(e.code);
}

/** Runs tasks with at most `limit` in flight; the first failure stops new starts and is rethrown. */
export async function runLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++] as T;
      try {
        await task(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
}
