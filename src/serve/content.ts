// What a layout serves: the named entries of index.json, and every manifest and blob reachable from
// it (indexes walked). Nothing else in the directory is ever served. The view is rebuilt when
// index.json changes; manifests are immutable by digest, so parsed ones are kept across rebuilds.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeError, isOciToolError } from '../errors.js';
import { REF_NAME_ANNOTATION, type Layout } from '../image/layout.js';
import { INDEX_MEDIA_TYPE, isIndexMediaType, isManifestMediaType, MANIFEST_MEDIA_TYPE } from '../image/media-types.js';
import { parseManifestDocument, type Descriptor } from '../image/types.js';
import { parseServedName, type NamedEntry } from './names.js';

/** Manifests larger than this are not served (clients and registries expect at most 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface ServedManifest {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  readonly kind: 'index' | 'manifest';
  readonly bytes: Buffer;
  /** Index children, or config and layers. */
  readonly children: readonly Descriptor[];
  readonly subject?: string;
  /** As the referrers API reports it: the document's artifactType, else an image manifest's config media type. */
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Snapshot {
  /** index.json entries served by name, in index.json order. */
  readonly entries: readonly NamedEntry<Descriptor>[];
  /** Every manifest and index reachable from index.json and present in the layout. */
  readonly manifests: ReadonlyMap<string, ServedManifest>;
  /** Every digest reachable from index.json (manifests included) → its size per descriptor. */
  readonly blobs: ReadonlyMap<string, number>;
}

export class LayoutContent {
  private readonly parsed = new Map<string, ServedManifest>();
  private readonly reported = new Set<string>();
  private current?: { key: string; snapshot: Promise<Snapshot> };

  constructor(
    readonly layout: Layout,
    private readonly onProblem: (message: string) => void = () => {},
  ) {}

  /** The view for index.json as it is now (cheap when it has not changed: one stat). */
  async snapshot(): Promise<Snapshot> {
    const st = await stat(join(this.layout.dir, 'index.json'));
    // Layout rewrites index.json by rename, so a new inode (or size, or time) means new content.
    const key = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    if (this.current?.key !== key) {
      const snapshot = this.build();
      this.current = { key, snapshot };
      snapshot.catch(() => {
        if (this.current?.snapshot === snapshot) this.current = undefined;
      });
    }
    return this.current.snapshot;
  }

  /** Referrers of a digest: descriptors of the served manifests whose subject it is. */
  static referrers(snapshot: Snapshot, digest: string, artifactType?: string): Descriptor[] {
    return [...snapshot.manifests.values()]
      .filter((m) => m.subject === digest && (artifactType === undefined || m.artifactType === artifactType))
      .map((m) => ({
        mediaType: m.mediaType, digest: m.digest, size: m.size,
        ...(m.artifactType !== undefined ? { artifactType: m.artifactType } : {}),
        ...(m.annotations !== undefined ? { annotations: m.annotations } : {}),
      }));
  }

  private async build(): Promise<Snapshot> {
    const index = await this.layout.readIndex();
    const entries: NamedEntry<Descriptor>[] = [];
    for (const d of index.manifests) {
      const refName = d.annotations?.[REF_NAME_ANNOTATION];
      const name = refName === undefined ? undefined : parseServedName(refName);
      if (name) entries.push({ name, value: d });
    }
    const manifests = new Map<string, ServedManifest>();
    const blobs = new Map<string, number>();
    let level: readonly Descriptor[] = index.manifests;
    while (level.length > 0) {
      const fresh = level.filter((d) => !blobs.has(d.digest));
      for (const d of fresh) blobs.set(d.digest, d.size);
      const found = await Promise.all(fresh.map((d) => this.manifest(d)));
      const next: Descriptor[] = [];
      for (const m of found) {
        if (!m) continue;
        manifests.set(m.digest, m);
        if (m.kind === 'index') next.push(...m.children);
        else for (const c of m.children) if (!blobs.has(c.digest)) blobs.set(c.digest, c.size);
      }
      level = next;
    }
    return { entries, manifests, blobs };
  }

  /** A descriptor's manifest, parsed, or undefined when it is no manifest or is absent (a partial pull keeps only some children). */
  private async manifest(d: Descriptor): Promise<ServedManifest | undefined> {
    if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType)) return undefined;
    const known = this.parsed.get(d.digest);
    if (known) return known;
    if (d.size > MAX_MANIFEST_BYTES) {
      this.problem(d.digest, `manifest ${d.digest} is ${d.size} bytes, more than the ${MAX_MANIFEST_BYTES} served`);
      return undefined;
    }
    let bytes: Buffer;
    try {
      bytes = await this.layout.readBlob(d);
    } catch (e) {
      if (!(isOciToolError(e) && e.code === 'OCI_ERR_NOT_FOUND')) this.problem(d.digest, describeError(e));
      return undefined;
    }
    const m = describeManifest(bytes, d.digest, d.mediaType, `manifest ${d.digest} in ${this.layout.dir}`, (msg) => this.problem(d.digest, msg));
    if (m) this.parsed.set(d.digest, m);
    return m;
  }

  // Told once per digest: the same broken blob is met again on every rebuild.
  private problem(key: string, message: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.onProblem(message);
  }
}

/** Parses manifest bytes into what is served for them; undefined (after telling why) when they are not a manifest. */
export function describeManifest(bytes: Buffer, digest: string, mediaType: string | undefined, where: string, onProblem?: (msg: string) => void): ServedManifest | undefined {
  let doc;
  try {
    doc = parseManifestDocument(bytes, mediaType, where);
  } catch (e) {
    onProblem?.(describeError(e));
    return undefined;
  }
  const body = doc.kind === 'index' ? doc.index : doc.manifest;
  const type = body.mediaType ?? (mediaType !== undefined && (isIndexMediaType(mediaType) || isManifestMediaType(mediaType))
    ? mediaType : doc.kind === 'index' ? INDEX_MEDIA_TYPE : MANIFEST_MEDIA_TYPE);
  const artifactType = body.artifactType || (doc.kind === 'manifest' ? doc.manifest.config.mediaType : undefined);
  return {
    digest, size: bytes.length, mediaType: type, kind: doc.kind, bytes,
    children: doc.kind === 'index' ? doc.index.manifests : [doc.manifest.config, ...doc.manifest.layers],
    ...(body.subject ? { subject: body.subject.digest } : {}),
    ...(artifactType ? { artifactType } : {}),
    ...(body.annotations ? { annotations: body.annotations } : {}),
  };
}
