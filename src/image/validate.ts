// `oci-tool validate --layout DIR [REF]`: an OCI image layout checked offline, like
// go-containerregistry's validate: the marker, index.json, and every blob reachable from it.
// Blobs are streamed through the digest module; only JSON documents are read whole.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { makeReport, asArray, asObject, isObject, quote, type ValidationProblem, type ValidationReport } from '../bundle/validate-report.js';
import { describeError, isOciToolError } from '../errors.js';
import { formatReference, parseReference } from '../registry/reference.js';
import { parseDigest, verifyBytes, VerifyingStream } from './digest.js';
import { REF_NAME_ANNOTATION } from './layout.js';
import * as mt from './media-types.js';
import { checkDocument } from './schema.js';
import { parseManifestDocument } from './types.js';

export type { ValidationProblem, ValidationReport } from '../bundle/validate-report.js';

/** Larger "JSON documents" are verified but not parsed (containerd refuses manifests over 4 MiB). */
const MAX_DOCUMENT = 16 * 1024 * 1024;

interface Desc { readonly mediaType: string; readonly digest: string; readonly size: number; readonly data?: unknown; readonly urls?: unknown }
type DocKind = 'index' | 'manifest' | 'docker' | 'config';

function kindOf(mediaType: string): DocKind | undefined {
  if (mediaType === mt.INDEX_MEDIA_TYPE) return 'index';
  if (mediaType === mt.MANIFEST_MEDIA_TYPE) return 'manifest';
  if (mediaType === mt.CONFIG_MEDIA_TYPE || mediaType === mt.DOCKER_CONFIG_MEDIA_TYPE) return 'config';
  // Our schemas require OCI media types, so Docker documents get the structural check instead.
  if (mt.isIndexMediaType(mediaType) || mt.isManifestMediaType(mediaType) || mt.isSchema1MediaType(mediaType)) return 'docker';
  return undefined;
}

export async function validateLayout(dir: string, ref?: string): Promise<ValidationReport> {
  const v = new LayoutValidator(dir);
  await v.run(ref);
  return makeReport(dir, v.problems);
}

class LayoutValidator {
  readonly problems: ValidationProblem[] = [];
  private readonly seen = new Set<string>();
  /** Image configs already checked: digest → number of diff_ids (undefined when unreadable). */
  private readonly configs = new Map<string, number | undefined>();

  constructor(private readonly dir: string) {}

  private add(pointer: string, rule: string, message: string): void {
    this.problems.push({ pointer, rule, message });
  }

  async run(ref: string | undefined): Promise<void> {
    await this.checkMarker();
    const index = await this.readJson('index.json', 'layout.index');
    if (index === undefined) return;
    for (const p of checkDocument('index', index)) this.add(`index.json#${p.pointer}`, 'index.schema', p.message);
    const entries = asArray(asObject(index)?.manifests).map((d, i) => [i, d] as const);
    const chosen = ref === undefined ? entries : selectRef(entries, ref);
    if (chosen.length === 0 && ref !== undefined) {
      const names = entries.map(([, d]) => nameOf(d)).filter((n): n is string => n !== undefined);
      this.add('index.json#/manifests', 'ref.unknown', `no image named ${quote(ref)}; ${names.length > 0 ? `index.json names ${names.join(', ')}` : 'index.json names no images'}`);
    }
    for (const [i, d] of chosen) await this.descriptor(d, `index.json#/manifests/${i}`);
  }

  private async checkMarker(): Promise<void> {
    const marker = await this.readJson('oci-layout', 'layout.marker');
    if (marker === undefined) return;
    const version = asObject(marker)?.imageLayoutVersion;
    if (typeof version !== 'string') this.add('oci-layout#/imageLayoutVersion', 'layout.marker', 'is required (a string)');
    else if (!/^1\.\d+\.\d+/.test(version)) this.add('oci-layout#/imageLayoutVersion', 'layout.version', `${quote(version)} is not a 1.x layout version`);
  }

  /** A layout file parsed as JSON, or undefined after reporting why not. */
  private async readJson(name: string, missingRule: string): Promise<unknown> {
    const bytes = await readFile(join(this.dir, name)).catch((e: NodeJS.ErrnoException) => {
      this.add(`${name}#`, missingRule, e.code === 'ENOENT' ? 'is missing: not an OCI image layout' : `cannot be read: ${e.message}`);
      return undefined;
    });
    return bytes && this.parse(bytes, name);
  }

  private parse(bytes: Uint8Array, name: string): unknown {
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
    } catch (e) {
      this.add(`${name}#`, 'json.parse', e instanceof TypeError ? 'is not UTF-8' : `is not valid JSON: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Checks one descriptor's blob and, for documents, their content; returns a config's diff_id count. */
  private async descriptor(d: unknown, at: string): Promise<number | undefined> {
    const desc = asDescriptor(d);
    if (!desc) return undefined; // the schema of the document holding it says why
    let name: string;
    try {
      const { algorithm, hex } = parseDigest(desc.digest);
      name = `blobs/${algorithm}/${hex}`;
    } catch (e) {
      this.add(`${at}/digest`, 'descriptor.digest', describeError(e));
      return undefined;
    }
    const data = desc.data;
    if (typeof data === 'string') this.verify(() => verifyBytes(Buffer.from(data, 'base64'), desc, `${at}/data`), `${at}/data`, 'descriptor.data');
    const kind = kindOf(desc.mediaType);
    if (kind === 'config' && this.configs.has(desc.digest)) return this.configs.get(desc.digest);
    const key = `${desc.digest} ${desc.size} ${kind ?? 'blob'}`;
    if (this.seen.has(key)) return undefined;
    this.seen.add(key);
    const bytes = await this.blob(desc, name, at, kind !== undefined && desc.size <= MAX_DOCUMENT);
    if (kind !== undefined && desc.size > MAX_DOCUMENT) this.add(at, 'document.size', `${desc.size} bytes is too large for a ${desc.mediaType} document`);
    const doc = bytes && this.parse(bytes, name);
    if (kind === 'config') {
      if (doc !== undefined) for (const p of checkDocument('image-config', doc)) this.add(`${name}#${p.pointer}`, 'config.schema', p.message);
      const diffIds = asObject(asObject(doc)?.rootfs)?.diff_ids;
      this.configs.set(desc.digest, Array.isArray(diffIds) ? diffIds.length : undefined);
      return this.configs.get(desc.digest);
    }
    if (doc === undefined || kind === undefined || !bytes) return undefined;
    if (kind === 'docker') {
      try {
        parseManifestDocument(bytes, desc.mediaType, name);
      } catch (e) {
        this.add(`${name}#`, 'manifest.structure', describeError(e));
        return undefined;
      }
    } else {
      const rule = kind === 'index' ? 'index.schema' : 'manifest.schema';
      for (const p of checkDocument(kind, doc)) this.add(`${name}#${p.pointer}`, rule, p.message);
      const own = asObject(doc)?.mediaType;
      if (typeof own === 'string' && own !== desc.mediaType) this.add(`${name}#/mediaType`, 'manifest.mediaType', `is ${own}, but ${at} says ${desc.mediaType}`);
    }
    await this.children(asObject(doc) ?? {}, name);
    return undefined;
  }

  private async children(doc: Record<string, unknown>, name: string): Promise<void> {
    for (const [i, d] of asArray(doc.manifests).entries()) await this.descriptor(d, `${name}#/manifests/${i}`);
    if (doc.config === undefined) return;
    const diffIds = await this.descriptor(doc.config, `${name}#/config`);
    const layers = asArray(doc.layers);
    for (const [i, d] of layers.entries()) await this.descriptor(d, `${name}#/layers/${i}`);
    const config = asDescriptor(doc.config);
    if (diffIds !== undefined && config && Array.isArray(doc.layers) && diffIds !== layers.length) {
      const at = `blobs/${config.digest.replace(':', '/')}#/rootfs/diff_ids`;
      this.add(at, 'config.diffIds', `has ${diffIds} entries, but ${name} has ${layers.length} layer${layers.length === 1 ? '' : 's'}`);
    }
  }

  /** Checks a blob's presence, size and digest; returns its bytes when asked for and intact. */
  private async blob(desc: Desc, name: string, at: string, read: boolean): Promise<Buffer | undefined> {
    const path = join(this.dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile()) {
      // Non-distributable layers may live only at their URLs.
      if (!st && mt.isNonDistributable(desc.mediaType) && asArray(desc.urls).length > 0) return undefined;
      this.add(at, 'blob.missing', `blob ${desc.digest} is missing (${name})`);
      return undefined;
    }
    if (st.size !== desc.size) {
      this.add(at, 'blob.size', `blob ${desc.digest} is ${st.size} bytes, but the descriptor says ${desc.size}`);
      return undefined;
    }
    if (!read) {
      const sink = new Writable({ write: (_chunk, _enc, done) => done() });
      await pipeline(createReadStream(path), new VerifyingStream(desc, `blob ${desc.digest}`), sink).catch((e: unknown) => this.blobError(e, at));
      return undefined;
    }
    const bytes = await readFile(path);
    return this.verify(() => verifyBytes(bytes, desc, `blob ${desc.digest}`), at) ? bytes : undefined;
  }

  private verify(check: () => void, at: string, rule?: string): boolean {
    try {
      check();
      return true;
    } catch (e) {
      return this.blobError(e, at, rule);
    }
  }

  private blobError(e: unknown, at: string, rule?: string): false {
    const code = isOciToolError(e) ? e.code : undefined;
    const fallback = code === 'OCI_ERR_SIZE_MISMATCH' ? 'blob.size' : code === 'OCI_ERR_DIGEST_MISMATCH' ? 'blob.digest' : 'blob.read';
    this.add(at, rule ?? fallback, describeError(e));
    return false;
  }
}

function asDescriptor(d: unknown): Desc | undefined {
  if (!isObject(d) || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || typeof d.size !== 'number') return undefined;
  return d as unknown as Desc;
}

const nameOf = (d: unknown): string | undefined => {
  const n = asObject(asObject(d)?.annotations)?.[REF_NAME_ANNOTATION];
  return typeof n === 'string' ? n : undefined;
};

/** Entries named `ref` or with digest `ref`; else those named by its normalized form (busybox → docker.io/library/busybox:latest). */
function selectRef<T>(entries: readonly (readonly [number, T])[], ref: string): (readonly [number, T])[] {
  const exact = entries.filter(([, d]) => nameOf(d) === ref || asObject(d)?.digest === ref);
  if (exact.length > 0) return exact;
  let full: string;
  try {
    full = formatReference(parseReference(ref));
  } catch {
    return [];
  }
  return entries.filter(([, d]) => nameOf(d) === full);
}
