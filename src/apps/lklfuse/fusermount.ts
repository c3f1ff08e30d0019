/*
 * Mounting as an ordinary user, through fusermount3.
 *
 * Only root may call mount(2), so libfuse programs run by a user ask the setuid-root helper
 * fusermount3 (Debian package fuse3) to mount for them: the caller makes a unix socketpair,
 * runs `fusermount3 -o OPTIONS -- MOUNTPOINT` with one end inherited and its number in the
 * environment variable _FUSE_COMMFD; fusermount3 opens /dev/fuse, checks that the user may mount
 * there (write access to the mount point, its owner if the directory is sticky; allow_other only
 * if /etc/fuse.conf says user_allow_other), mounts with fd=N,user_id=UID,... and sends the open
 * /dev/fuse descriptor back over the socket as SCM_RIGHTS ancillary data, then exits. Unmounting is
 * `fusermount3 -u MOUNTPOINT` (-z for lazily), which checks that the mount carries user_id=UID.
 *
 * Node cannot receive a descriptor over a socket, and has no exec(2). So an unprivileged lklfuse
 * starts a tiny python3 program (HELPER below, passed with -c: nothing to install or ship) that
 * does the fusermount3 exchange and then exec()s node running lklfuse again, with the received
 * descriptor left open (inheritable) and its number in LKLFUSE_FUSE_FD. That process, the one
 * holding the FUSE connection, opens the image, boots the kernel and serves; it skips mount(8)
 * and unmounts with fusermount3. Its pid is the pid of the python3 process we spawned, so the
 * spawning lklfuse can wait for it and forward signals to it.
 *
 * A failure of fusermount3 is reported by the helper itself, in lklfuse's one-line format, on the
 * descriptor it is told (stderr, or the daemon's pipe to its waiting parent).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from './session.js';

/** The environment variable carrying the inherited /dev/fuse descriptor's number. */
export const FUSE_FD_ENV = 'LKLFUSE_FUSE_FD';

/*
 * argv: REPORT_FD FUSERMOUNT OPTIONS MOUNTPOINT PROGRAM ARGS...
 * Exit status 1 after a failure it has reported; on success it becomes PROGRAM.
 */
const HELPER = String.raw`
import os, socket, subprocess, sys, array
report, fm, opts, mnt = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
prog = sys.argv[5:]
def say(m):
    try: os.write(report, ('lklfuse: %s\n' % m).encode('utf-8', 'surrogateescape'))
    except OSError: pass
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
env = dict(os.environ)
env['_FUSE_COMMFD'] = str(theirs.fileno())
try:
    p = subprocess.Popen([fm, '-o', opts, '--', mnt], env=env, pass_fds=(theirs.fileno(),),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
except OSError as e:
    say("cannot run %s: %s" % (fm, e.strerror)); sys.exit(1)
theirs.close()
fds = array.array('i')
try:
    msg, anc, flags, addr = ours.recvmsg(1, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
except OSError:
    pass
err = p.stderr.read().decode('utf-8', 'replace').strip()
status = p.wait()
ours.close()
if status != 0 or len(fds) == 0:
    for fd in fds: os.close(fd)
    lines = [l.split(': ', 1)[1] if l.startswith((fm + ': ', os.path.basename(fm) + ': ')) else l for l in err.splitlines()]
    m = '; '.join(lines) or ('%s exited with status %d' % (fm, status))
    if 'user_allow_other' in err:
        m += " (root can allow it: a line 'user_allow_other' in /etc/fuse.conf)"
    say("cannot mount on '%s': %s" % (mnt, m)); sys.exit(1)
for l in err.splitlines(): say(l)
for fd in fds[1:]: os.close(fd)
os.set_inheritable(fds[0], True)
os.environ['${FUSE_FD_ENV}'] = str(fds[0])
try:
    os.execv(prog[0], prog)
except OSError as e:
    say("cannot run %s: %s" % (prog[0], e.strerror)); sys.exit(1)
`;

/** An executable named `name` on $PATH (or in `fallback`), or null. */
export function findProgram(name: string, fallback: string[] = []): string | null {
  const dirs = (process.env.PATH ?? '').split(':').filter((d) => d !== '');
  for (const d of [...dirs, ...fallback]) {
    const p = path.join(d, name);
    try {
      // access(X_OK) as the real user: a pyenv shim under /root is skipped for a user who can't reach it.
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch { /* not here */ }
  }
  return null;
}

const SYSTEM_DIRS = ['/usr/bin', '/bin', '/usr/local/bin'];

export interface FusermountSpec {
  mountpoint: string;
  /** source shown in /proc/mounts */
  source: string;
  readOnly: boolean;
  allowOther: boolean;
  defaultPermissions: boolean;
}

/** The -o list for fusermount3: it adds fd=, rootmode=, user_id=, group_id= (and nosuid,nodev) itself. */
export function fusermountOptions(m: FusermountSpec): string {
  const o = [m.readOnly ? 'ro' : 'rw', 'nosuid', 'nodev', `fsname=${m.source.replace(/[,\s\\]/g, '_')}`, 'subtype=lklfuse'];
  if (m.allowOther) o.push('allow_other');
  if (m.defaultPermissions) o.push('default_permissions');
  return o.join(',');
}

/**
 * The command that mounts through fusermount3 and then becomes `program` (node running lklfuse)
 * holding the descriptor; failures are reported on `reportFd`. Throws a message when a needed
 * program is missing.
 */
export function fusermountCommand(m: FusermountSpec, reportFd: number, program: string[]): { cmd: string; args: string[] } {
  const fm = findProgram('fusermount3', SYSTEM_DIRS);
  if (fm === null) throw new Error('fusermount3 is needed to mount as a user other than root (Debian package fuse3)');
  const py = findProgram('python3', SYSTEM_DIRS);
  if (py === null) throw new Error('python3 is needed to mount as a user other than root (it receives the /dev/fuse descriptor from fusermount3)');
  return { cmd: py, args: ['-c', HELPER, String(reportFd), fm, fusermountOptions(m), path.resolve(m.mountpoint), ...program] };
}

/** `fusermount3 -u [-z] MOUNTPOINT`: the unprivileged unmount. */
export async function fusermountUnmount(mountpoint: string, lazy: boolean): Promise<{ status: number; stderr: string }> {
  const fm = findProgram('fusermount3', SYSTEM_DIRS) ?? 'fusermount3';
  return run(fm, [lazy ? '-uz' : '-u', '--', path.resolve(mountpoint)]);
}
