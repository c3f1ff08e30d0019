export { createNodeHost } from './host.js';
export type { NodeHostOptions } from './host.js';
