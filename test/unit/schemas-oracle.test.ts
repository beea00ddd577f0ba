// Upstream's own test corpora as an oracle for oci-tool's schemas: every good document must pass and
// every bad one fail. The reference data is read here, in a test, never by the product.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDocument } from '../../src/image/schema.js';
import type { DocumentKind } from '../../src/image/schema.js';
import { REFERENCE_DIR } from '../support/reference.js';

const REF = REFERENCE_DIR;
const RUNTIME = join(REF, 'runtime-spec/schema/test/config');
const IMAGE = join(REF, 'image-spec/schema/test');

interface Case {
  readonly corpus: 'runtime-spec' | 'image-spec';
  readonly file: string;
  readonly path: string;
  readonly kind: DocumentKind;
  readonly expect: 'good' | 'bad';
}

const kindByMediaType: Record<string, DocumentKind> = {
  'application/vnd.oci.image.manifest.v1+json': 'manifest',
  'application/vnd.oci.image.index.v1+json': 'index',
  'application/vnd.oci.image.config.v1+json': 'image-config',
  'application/vnd.oci.descriptor.v1+json': 'descriptor',
  'application/vnd.oci.layout.header.v1+json': 'layout',
};

function runtimeCases(): Case[] {
  return (['good', 'bad'] as const).flatMap((expect) =>
    readdirSync(join(RUNTIME, expect))
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({ corpus: 'runtime-spec' as const, file: `config/${expect}/${f}`, path: join(RUNTIME, expect, f), kind: 'runtime-config' as const, expect })),
  );
}

function imageCases(): Case[] {
  const records = JSON.parse(readFileSync(join(IMAGE, 'cases.json'), 'utf8')) as { file: string; expect: 'good' | 'bad'; validator: string }[];
  return records.map((r) => {
    const kind = kindByMediaType[r.validator];
    if (!kind) throw new Error(`${r.file}: no validator for ${r.validator}`);
    return { corpus: 'image-spec' as const, file: r.file, path: join(IMAGE, r.file), kind, expect: r.expect };
  });
}

/** A file that is not JSON counts as bad, as upstream's validators fail to parse it. */
function verdict(c: Case): 'good' | 'bad' {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(c.path, 'utf8'));
  } catch {
    return 'bad';
  }
  return checkDocument(c.kind, doc).length === 0 ? 'good' : 'bad';
}

describe('schemas agree with the upstream test corpora', () => {
  it('has an expectation for every file in the image-spec corpus', () => {
    const listed = new Set(imageCases().map((c) => c.file));
    const files = readdirSync(IMAGE, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(IMAGE, d.name)).map((f) => `${d.name}/${f}`));
    // raw-docker-* are the unconverted Docker originals of the backcompat cases, not cases themselves.
    expect(files.filter((f) => !listed.has(f) && !/\/raw-docker-/.test(f))).toEqual([]);
  });

  it('agrees on every document', () => {
    const cases = [...runtimeCases(), ...imageCases()];
    const disagreements = cases.filter((c) => verdict(c) !== c.expect).map((c) => `${c.corpus} ${c.file}: expected ${c.expect}`);
    const count = (corpus: Case['corpus']) => {
      const mine = cases.filter((c) => c.corpus === corpus);
      return `${corpus} ${mine.filter((c) => verdict(c) === c.expect).length}/${mine.length}`;
    };
    console.log(`schema oracle: ${cases.length - disagreements.length}/${cases.length} agree (${count('runtime-spec')}, ${count('image-spec')})`);
    expect(cases.length).toBeGreaterThanOrEqual(93);
    expect(disagreements).toEqual([]);
  });
});
