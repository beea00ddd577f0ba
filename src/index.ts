// Public library API: the verbs, their option and result types, the stores and the error model.
export * from './errors.js';
export type * from './events.js';
export { pull, DEFAULT_JOBS, type PullOptions, type PullResult } from './registry/pull.js';
export { parseReference, formatReference, familiarName, type Reference } from './registry/reference.js';
export { credentialSource, staticCredentials, type Credential, type CredentialSource } from './registry/credentials.js';
export { loadRegistriesConfig, parseRegistriesConfig, type RegistriesConfig } from './registry/mirrors.js';
export { RemoteRepository } from './registry/remote.js';
export { Connections } from './registry/connections.js';
export { Layout, defaultLayoutDir, REF_NAME_ANNOTATION } from './image/layout.js';
export { parsePlatform, formatPlatform, hostPlatform, selectManifest, platformMatcher } from './image/platform.js';
export { parseManifestDocument } from './image/types.js';
export type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from './image/types.js';
export * as mediaTypes from './image/media-types.js';
export { digestOf, parseDigest, verifyBytes, VerifyingStream } from './image/digest.js';
