/*
 * Event notification files and readiness: eventfd, epoll, the poll/select core, and the
 * anonymous-inode filesystem they live on.
 */
export {
  anonInodeGetfile, anonInodeSuper, eventpollInit, eventpollHalt, haltableWait,
} from './anon_inodes.js';
export { createEventfd, isEventfd, eventfdFileOperations, EventfdCtx } from './eventfd.js';
export {
  createEpoll, epollCtl, epollWait, isEpoll, epollFileOperations, EventPoll, EP_MAX_EVENTS,
  EP_MAX_NESTS, EP_PRIVATE_BITS, type EpollEvent,
} from './eventpoll.js';
export { doPoll, vfsPoll, DEFAULT_POLLMASK, type PollOptions } from './select.js';
