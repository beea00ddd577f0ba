// Small blobs (signature payloads, bundles, configs) read whole into memory, bounded and verified.
import { OciToolError } from '../errors.js';
import { verifyBytes } from '../image/digest.js';
import type { Descriptor } from '../image/types.js';
import type { RemoteRepository } from './remote.js';

export async function readSmallBlob(repo: RemoteRepository, desc: Pick<Descriptor, 'digest' | 'size'>, max: number, signal?: AbortSignal): Promise<Buffer> {
  const what = `blob ${desc.digest} of ${repo.name}`;
  if (desc.size > max) throw new OciToolError('OCI_ERR_INVALID_CONTENT', `${what} is ${desc.size} bytes, over the ${max}-byte limit`);
  const { body } = await repo.openBlob(desc.digest, 0, signal);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > desc.size) {
      body.destroy();
      break;
    }
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks);
  verifyBytes(bytes, desc, what);
  return bytes;
}
