export { createNodeHost } from './host.js';
export type { NodeHostOptions } from './host.js';
export { openDiskImage, type DiskImageOptions } from './disk.js';
