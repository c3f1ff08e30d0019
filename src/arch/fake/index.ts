export { FakeHost, createFakeHost } from './host.js';
export type { FakeHostOptions } from './host.js';
