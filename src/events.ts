// Progress is plain data pushed to a caller's listener; library code never prints.

export type BlobKind = 'manifest' | 'index' | 'config' | 'layer' | 'blob';

export type TransferEvent =
  | { type: 'resolved'; reference: string; digest: string; mediaType: string }
  | { type: 'blob-start'; digest: string; size: number; kind: BlobKind; offset: number }
  | { type: 'blob-progress'; digest: string; complete: number; total: number }
  | { type: 'blob-done'; digest: string; size: number; kind: BlobKind; skipped: boolean }
  | { type: 'retry'; what: string; attempt: number; delayMs: number; reason: string }
  | { type: 'warning'; message: string };

export type ProgressListener = (event: TransferEvent) => void;

export const ignoreProgress: ProgressListener = () => {};
