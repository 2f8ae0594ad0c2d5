export * from './blake2s.js';
export * from './aead.js';
export * from './xaead.js';
export * from './x25519.js';
export * from './tai64n.js';
export * from './util.js';
