/*
 * Real Linux vfat as an oracle, through User-Mode Linux (Debian's user-mode-linux package, which
 * builds fat/vfat/nls as modules; kmod's insmod loads them). The UML kernel boots with the host's
 * root directory as its root (hostfs), so a shell script on the host is its init and files in a
 * host directory carry requests in and results out; the FAT image is its ubd0 disk.
 *
 * runUmlPython(img, opts, program, input) mounts the image as vfat with `opts`, runs a Python 3
 * program in the mount point with input.json beside it, unmounts, and returns what the program
 * printed on stdout (plus the kernel's FAT messages). Python is used because it exposes every
 * syscall the comparisons need with errno names.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const UML = '/usr/bin/linux.uml';

function umlModulesDir(): string | null {
  const base = '/usr/lib/uml/modules';
  if (!fs.existsSync(base)) return null;
  const v = fs.readdirSync(base).sort().at(-1);
  return v ? path.join(base, v, 'kernel', 'fs') : null;
}

/** Why UML cannot be used here, or false when it can. */
export function umlUnavailable(): string | false {
  if (!fs.existsSync(UML)) return 'user-mode-linux not installed (apt-get install user-mode-linux)';
  const m = umlModulesDir();
  if (!m || !fs.existsSync(path.join(m, 'fat', 'vfat.ko'))) return 'user-mode-linux has no vfat module';
  if (!['/sbin/insmod', '/usr/sbin/insmod'].some((p) => fs.existsSync(p))) return 'insmod not installed (apt-get install kmod)';
  if (spawnSync('python3', ['-c', 'print(1)']).status !== 0) return 'python3 not installed';
  return false;
}

export interface UmlRun { stdout: string; dmesg: string; log: string }

export function runUmlPython(img: string, mountOpts: string, program: string, input: unknown): UmlRun {
  const mods = umlModulesDir()!;
  // hostfs shows the host's tree; a directory under /tmp is reachable at the same path inside.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfat-uml-'));
  try {
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt);
    fs.writeFileSync(path.join(dir, 'input.json'), JSON.stringify(input));
    fs.writeFileSync(path.join(dir, 'prog.py'), program);
    const init = path.join(dir, 'init.sh');
    fs.writeFileSync(init, `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin PYTHONUTF8=1 TZ=UTC LC_ALL=C.UTF-8
umask 022
mount -t proc proc /proc
for m in fat/fat.ko fat/vfat.ko nls/nls_cp437.ko nls/nls_iso8859-1.ko nls/nls_utf8.ko; do insmod ${mods}/$m 2>/dev/null; done
if mount -t vfat -o ${mountOpts} /dev/ubda ${mnt} 2>${dir}/mount.err; then
  (cd ${mnt} && python3 ${dir}/prog.py ${dir}/input.json >${dir}/out.txt 2>${dir}/err.txt)
  umount ${mnt}
else
  echo "MOUNT FAILED: $(cat ${dir}/mount.err)" >${dir}/out.txt
fi
dmesg | grep -i 'fat' >${dir}/dmesg.txt
sync
echo o >/proc/sysrq-trigger
`, { mode: 0o755 });
    const r = spawnSync(UML, [
      'mem=256M', 'root=/dev/root', 'rootfstype=hostfs', 'rootflags=/', 'rw', `ubd0=${img}`, `init=${init}`,
      'con=null', 'con0=null,fd:1', 'quiet', `uml_dir=${dir}`,
    ], { encoding: 'utf8', timeout: 120_000, input: '', env: { ...process.env, TMPDIR: dir } });
    const read = (n: string) => { try { return fs.readFileSync(path.join(dir, n), 'utf8'); } catch { return ''; } };
    const stdout = read('out.txt');
    if (!stdout) throw new Error(`UML produced no output (exit ${r.status}):\n${read('err.txt')}\n${(r.stdout ?? '').slice(-2000)}`);
    const err = read('err.txt');
    if (err.trim()) throw new Error(`python in UML failed:\n${err}`);
    return { stdout, dmesg: read('dmesg.txt'), log: r.stdout ?? '' };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
