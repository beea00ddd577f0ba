// The test oracles in ../shared/reference beside the repository (never read by the product).
import { fileURLToPath } from 'node:url';

export const REFERENCE_DIR = process.env.OCI_TOOL_REFERENCE_DIR ?? fileURLToPath(new URL('../../../shared/reference', import.meta.url));
