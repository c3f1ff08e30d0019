/*
 * Pipes and FIFOs: pipe(2) ends on the internal pipefs, FIFO opens, F_SETPIPE_SZ/F_GETPIPE_SZ.
 */
export {
  createPipe, pipeFcntl, getPipeInfo, pipeSysctl, pipeHalt, pipefsSuper, roundPipeSize,
  pipeFileOperations, PipeInodeInfo, PIPE_DEF_BUFFERS, PIPE_MAX_SIZE_DEFAULT,
  type PipeFile, type PipeSysctl,
} from './pipe.js';
export { fifoFileOperations, pipeInit } from './fifo.js';
