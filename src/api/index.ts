export { makeSys, type Sys, type Convenience } from './sys.js';
export { makeFs, KernelFsError, KernelStats, type KernelFs, type KernelFileHandle, type KernelDirent } from './fs.js';
