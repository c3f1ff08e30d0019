export { createNodeHost } from './host.js';
export type { NodeHostOptions } from './host.js';
export { openDiskImage, type DiskImageOptions } from './disk.js';
export { createNetBackend, parseNetSpec, parseInetAddress, type NetSpec } from './net.js';
export {
  createDgramBackend, createStreamBackend, DgramBackend, StreamBackend, StreamDeframer, encodeStreamFrame,
  QEMU_NET_BUFSIZE, type DgramOptions, type StreamOptions, type StreamAddress, type InetAddress, type NetLinkOptions,
} from './net_qemu.js';
export { createTapBackend, TapBackend, type TapOptions } from './net_tap.js';
export { createPipeBackend, parsePipeIfname, encodePipeFrame, statedFrameLength, PipeDeframer, PipeBackend, VIRTIO_NET_HDR_LEN, type PipeOptions } from './net_pipe.js';
