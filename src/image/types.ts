// OCI image-spec v1.1 document shapes, and the structural check every fetched manifest goes through.
import { OciToolError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType, isSchema1MediaType } from './media-types.js';

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
  /** Reserved by the spec; Docker manifest lists used it for CPU features. */
  readonly features?: readonly string[];
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  /** Base64 of the content, embedded. */
  readonly data?: string;
  readonly artifactType?: string;
  readonly platform?: Platform;
}

export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface HistoryEntry {
  readonly created?: string;
  readonly author?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

/** image-spec config.md; architecture, os and rootfs are required there, the rest optional. */
export interface ImageConfig {
  readonly created?: string;
  readonly author?: string;
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
  readonly config?: {
    readonly User?: string;
    readonly ExposedPorts?: Readonly<Record<string, object>>;
    readonly Env?: readonly string[];
    readonly Entrypoint?: readonly string[];
    readonly Cmd?: readonly string[];
    readonly Volumes?: Readonly<Record<string, object>>;
    readonly WorkingDir?: string;
    readonly Labels?: Readonly<Record<string, string>>;
    readonly StopSignal?: string;
    readonly ArgsEscaped?: boolean;
  };
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly string[] };
  readonly history?: readonly HistoryEntry[];
}

export type ManifestDocument = { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest };

// The image-spec digest grammar: algorithm components, then an encoded part.
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
// Content types that say nothing about which kind of manifest was served.
const GENERIC_TYPES = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses a fetched manifest or index; `mediaType` is its Content-Type (or descriptor media type), `where` names it in errors. */
export function parseManifestDocument(bytes: Uint8Array, mediaType: string | undefined, where: string): ManifestDocument {
  const invalid = (msg: string) => new OciToolError('OCI_ERR_INVALID_CONTENT', `${where}: ${msg}`);
  const served = mediaType?.split(';')[0]?.trim().toLowerCase() ?? '';
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw invalid('manifest is not valid JSON');
  }
  if (!isObject(doc)) throw invalid('manifest is not a JSON object');
  const bodyType = doc.mediaType;
  if (bodyType !== undefined && typeof bodyType !== 'string') throw invalid('manifest mediaType is not a string');
  if (doc.schemaVersion === 1 || isSchema1MediaType(served) || (bodyType !== undefined && isSchema1MediaType(bodyType))) {
    throw new OciToolError('OCI_ERR_UNSUPPORTED', `${where}: Docker schema 1 manifests are not supported; push the image again with a current client`);
  }
  if (doc.schemaVersion !== 2) throw invalid(`unsupported manifest schemaVersion ${JSON.stringify(doc.schemaVersion)}`);
  if (bodyType !== undefined && !GENERIC_TYPES.has(served) && bodyType.toLowerCase() !== served) {
    throw invalid(`manifest declares mediaType ${bodyType} but was served as ${served}`);
  }
  const kind = kindOf(bodyType) ?? kindOf(served) ?? kindByFields(doc);
  if (!kind) {
    const named = bodyType ?? (GENERIC_TYPES.has(served) ? undefined : served);
    if (named) throw new OciToolError('OCI_ERR_UNSUPPORTED', `${where}: unsupported manifest media type ${named}`);
    throw invalid('cannot tell whether this is an image index or an image manifest');
  }
  checkCommon(doc, invalid);
  if (kind === 'index') {
    const list = doc.manifests;
    if (!Array.isArray(list)) throw invalid('image index has no manifests array');
    list.forEach((d, i) => checkDescriptor(d, `manifests[${i}]`, invalid));
    return { kind, index: doc as unknown as ImageIndex };
  }
  checkDescriptor(doc.config, 'config', invalid);
  if (!Array.isArray(doc.layers)) throw invalid('image manifest has no layers array');
  doc.layers.forEach((d, i) => checkDescriptor(d, `layers[${i}]`, invalid));
  return { kind, manifest: doc as unknown as ImageManifest };
}

function kindOf(mt: string | undefined): ManifestDocument['kind'] | undefined {
  if (mt === undefined) return undefined;
  if (isIndexMediaType(mt)) return 'index';
  return isManifestMediaType(mt) ? 'manifest' : undefined;
}

// Docker-era registries may omit both the body mediaType and a useful Content-Type.
function kindByFields(doc: Json): ManifestDocument['kind'] | undefined {
  const hasManifests = 'manifests' in doc;
  const hasLayers = 'layers' in doc || 'config' in doc;
  if (hasManifests === hasLayers) return undefined;
  return hasManifests ? 'index' : 'manifest';
}

type Fail = (msg: string) => OciToolError;

function checkCommon(doc: Json, invalid: Fail): void {
  if (doc.artifactType !== undefined && typeof doc.artifactType !== 'string') throw invalid('artifactType is not a string');
  if (doc.subject !== undefined) checkDescriptor(doc.subject, 'subject', invalid);
  checkStringMap(doc.annotations, 'annotations', invalid);
}

function checkDescriptor(d: unknown, at: string, invalid: Fail): void {
  if (!isObject(d)) throw invalid(`${at} is not a descriptor object`);
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw invalid(`${at}.mediaType is missing`);
  if (typeof d.digest !== 'string' || !DIGEST_RE.test(d.digest)) throw invalid(`${at}.digest ${JSON.stringify(d.digest)} is not a digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(`${at}.size ${JSON.stringify(d.size)} is not a non-negative integer`);
  if (d.urls !== undefined && !isStringArray(d.urls)) throw invalid(`${at}.urls is not a list of strings`);
  if (d.data !== undefined && typeof d.data !== 'string') throw invalid(`${at}.data is not a string`);
  if (d.artifactType !== undefined && typeof d.artifactType !== 'string') throw invalid(`${at}.artifactType is not a string`);
  checkStringMap(d.annotations, `${at}.annotations`, invalid);
  if (d.platform === undefined) return;
  const p = d.platform;
  if (!isObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') throw invalid(`${at}.platform needs os and architecture strings`);
  if (p.variant !== undefined && typeof p.variant !== 'string') throw invalid(`${at}.platform.variant is not a string`);
  if (p['os.version'] !== undefined && typeof p['os.version'] !== 'string') throw invalid(`${at}.platform.os.version is not a string`);
  if (p['os.features'] !== undefined && !isStringArray(p['os.features'])) throw invalid(`${at}.platform.os.features is not a list of strings`);
}

function checkStringMap(v: unknown, at: string, invalid: Fail): void {
  if (v === undefined) return;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) throw invalid(`${at} is not a map of strings`);
}

const isStringArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
