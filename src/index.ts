// Public library API.
export * from './errors.js';
export type * from './events.js';
