/*
 * procfs: the process and kernel information filesystem, mounted with
 * mount("none", "/proc", "proc"). procInitcall registers the "proc" filesystem type; the syslog
 * readers are shared with the syslog(2) system call.
 */
import type { Initcall, Kernel } from '../../kernel/index.js';
import { createProcType } from './root.js';

/**
 * proc_net_init, for a kernel booted with networking: loads the /proc/net files (and with them
 * the network stack's modules) only now, so that a kernel without networking never does.
 */
export async function procNetInit(k: Kernel): Promise<void> {
  (await import('./proc_net.js')).procNetAttach(k);
}

export const procInitcall: Initcall = {
  name: 'proc',
  fn: (k) => { k.vfs.registerFilesystem(createProcType(k)); },
};

export { type ProcNetFile } from './root.js';
export { createProcType, versionText, meminfoText, uptimeText, loadavgText, filesystemsText } from './root.js';
export { statusText, statText as pidStatText, mountsText, mountinfoText, fileLinkName } from './base.js';
export {
  syslogRead, syslogReadNow, syslogReadAll, syslogClear, syslogUnreadBytes, syslogHasUnread,
  syslogConsoleOff, syslogConsoleOn, syslogConsoleLevel, SYSLOG_BUF_LEN, MINIMUM_CONSOLE_LOGLEVEL,
} from './kmsg.js';
