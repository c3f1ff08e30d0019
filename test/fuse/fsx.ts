/*
 * An fsx-style file exerciser. fsx (from the BSD and Linux test suites) hammers one file with
 * random operations and keeps, in memory, what the file must contain; every read is compared
 * against that model, so the first operation after which the filesystem disagrees is found, and
 * the seed plus the operation log replays it.
 *
 * Operations: pwrite at a random offset (may extend the file), ftruncate up or down, punch a hole
 * (fallocate PUNCH_HOLE|KEEP_SIZE: the range reads as zeros, the size stays), fallocate mode 0
 * (the size grows to cover the range, zero-filled) and KEEP_SIZE (nothing visible changes), write through a
 * shared mapping (the file is extended by ftruncate first, as fsx's mapwrite does) and read
 * through a mapping, fsync, and closing and reopening the descriptor. After every operation the
 * size from fstat and the whole content, read through a fresh descriptor, must match the model.
 * On FUSE a fresh open drops the host's page cache for the file (lklfuse does not ask to keep
 * it), so those reads reach the filesystem itself.
 *
 * Node has no fallocate(2) or mmap(2): those operations go to one long-running python3 helper
 * (a line protocol on its stdin and stdout). When the filesystem answers EOPNOTSUPP to a punch
 * or a fallocate, that operation is left out for the rest of the run and the result says so.
 */
import * as fs from 'node:fs';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface FsxOptions {
  seed: number;
  ops: number;
  /** Largest file size the run produces. */
  maxSize: number;
  /** Largest single write, truncation step or hole. */
  maxLen: number;
  /** Use the python3 helper for punch hole and mmap operations. */
  helper: boolean;
}

export interface FsxResult {
  ok: boolean;
  seed: number;
  /** One line per operation done, in order. */
  log: string[];
  /** What disagreed, when !ok. */
  message: string;
  counts: Record<string, number>;
  notes: string[];
}

const FALLOC_FL_KEEP_SIZE = 0x01, FALLOC_FL_PUNCH_HOLE = 0x02;

const HELPER = String.raw`
import ctypes, errno, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
for line in sys.stdin:
    a = line.split()
    try:
        fd = os.open(a[1], os.O_RDWR)
        try:
            off, n = int(a[2]), int(a[3])
            out = ''
            if a[0] == 'falloc':
                if libc.fallocate(fd, int(a[4]), off, n) < 0:
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e))
            elif a[0] == 'mapwrite':
                data = bytes.fromhex(a[4])
                if os.fstat(fd).st_size < off + n:
                    os.ftruncate(fd, off + n)
                m = mmap.mmap(fd, os.fstat(fd).st_size)
                m[off:off + n] = data
                m.flush()
                m.close()
            elif a[0] == 'mapread':
                m = mmap.mmap(fd, os.fstat(fd).st_size, prot=mmap.PROT_READ)
                out = m[off:off + n].hex()
                m.close()
            print('ok', out, flush=True)
        finally:
            os.close(fd)
    except OSError as e:
        print('err', errno.errorcode.get(e.errno, str(e.errno)), flush=True)
`;

/** The python3 helper: one request line in, one answer line out. */
class Helper {
  private p: ChildProcessWithoutNullStreams;
  private lines: string[] = [];
  private waiting: ((l: string) => void) | null = null;
  constructor() {
    this.p = spawn('python3', ['-c', HELPER]);
    createInterface({ input: this.p.stdout }).on('line', (l) => {
      if (this.waiting) { const w = this.waiting; this.waiting = null; w(l); } else this.lines.push(l);
    });
    this.p.stderr.on('data', () => {});
  }
  ask(req: string): Promise<string> {
    this.p.stdin.write(req + '\n');
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r) => { this.waiting = r; });
  }
  close(): void { this.p.stdin.end(); }
}

/** mulberry32: small, seedable, the same sequence on every host. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where two buffers first differ, or -1. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

const hexAround = (b: Uint8Array, at: number) => Buffer.from(b.subarray(Math.max(0, at - 8), at + 8)).toString('hex');

export async function runFsx(file: string, o: FsxOptions): Promise<FsxResult> {
  const rand = rng(o.seed);
  const int = (n: number) => Math.floor(rand() * n);
  const log: string[] = [];
  const notes: string[] = [];
  const counts: Record<string, number> = {};
  let model = new Uint8Array(0);
  let canPunch = o.helper, canFalloc = o.helper;
  const helper = o.helper ? new Helper() : null;
  let fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
  const result = (ok: boolean, message: string): FsxResult => ({ ok, seed: o.seed, log, message, counts, notes });

  const resize = (n: number) => {
    const m = new Uint8Array(n);
    m.set(model.subarray(0, Math.min(n, model.length)));
    model = m;
  };
  const bytes = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = int(256); return b; };

  try {
    for (let i = 0; i < o.ops; i++) {
      const pick = int(100);
      let op: string;
      if (pick < 35) {
        const off = int(o.maxSize), len = 1 + int(Math.min(o.maxLen, o.maxSize - off));
        const data = bytes(len);
        op = `write ${off} ${len}`;
        log.push(op);
        fs.writeSync(fd, data, 0, len, off);
        if (off + len > model.length) resize(off + len);
        model.set(data, off);
      } else if (pick < 50) {
        // Alternate between growing and shrinking so the size wanders over the whole range.
        const size = int(2) ? Math.min(o.maxSize, model.length + int(o.maxLen)) : Math.max(0, model.length - int(o.maxLen * 2));
        op = `truncate ${model.length} -> ${size}`;
        log.push(op);
        fs.ftruncateSync(fd, size);
        resize(size);
      } else if (pick < 62 && canPunch && model.length > 0) {
        const off = int(model.length), len = 1 + int(o.maxLen);
        op = `punch ${off} ${len}`;
        log.push(op);
        const r = await helper!.ask(`falloc ${file} ${off} ${len} ${FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE}`);
        if (r === 'err EOPNOTSUPP' || r === 'err ENOTSUP') { // the same number on Linux
          canPunch = false;
          notes.push('punch hole: EOPNOTSUPP from the filesystem; left out from here on');
          log.push('  -> EOPNOTSUPP');
        } else if (r !== 'ok ') {
          return result(false, `op ${i} ${op}: got ${r}, want ok`);
        } else {
          model.fill(0, off, Math.min(off + len, model.length));
        }
      } else if (pick < 66 && canFalloc) {
        // fallocate mode 0 (the size grows to cover the range, zero-filled) or KEEP_SIZE
        // (space only: the content and size must not change).
        const keep = int(2), off = int(o.maxSize), len = 1 + int(Math.min(o.maxLen, o.maxSize - off));
        op = `falloc${keep ? '_keep' : ''} ${off} ${len}`;
        log.push(op);
        const r = await helper!.ask(`falloc ${file} ${off} ${len} ${keep ? FALLOC_FL_KEEP_SIZE : 0}`);
        if (r === 'err EOPNOTSUPP' || r === 'err ENOTSUP') {
          canFalloc = false;
          notes.push('fallocate: EOPNOTSUPP from the filesystem; left out from here on');
          log.push('  -> EOPNOTSUPP');
        } else if (r !== 'ok ') {
          return result(false, `op ${i} ${op}: got ${r}, want ok`);
        } else if (!keep && off + len > model.length) {
          resize(off + len);
        }
      } else if (pick < 74 && helper) {
        const off = int(o.maxSize), len = 1 + int(Math.min(o.maxLen, o.maxSize - off));
        const data = bytes(len);
        op = `mapwrite ${off} ${len}`;
        log.push(op);
        const r = await helper.ask(`mapwrite ${file} ${off} ${len} ${Buffer.from(data).toString('hex')}`);
        if (r !== 'ok ') return result(false, `op ${i} ${op}: got ${r}, want ok`);
        if (off + len > model.length) resize(off + len);
        model.set(data, off);
      } else if (pick < 81 && helper && model.length > 0) {
        const off = int(model.length), len = 1 + int(Math.min(o.maxLen, model.length - off));
        op = `mapread ${off} ${len}`;
        log.push(op);
        const r = await helper.ask(`mapread ${file} ${off} ${len}`);
        const got = r.startsWith('ok ') ? Buffer.from(r.slice(3), 'hex') : null;
        if (!got) return result(false, `op ${i} ${op}: got ${r}, want ok`);
        const d = firstDiff(got, model.subarray(off, off + len));
        if (d >= 0) return result(false, `op ${i} ${op}: mapped bytes differ at file offset ${off + d}: got ${hexAround(got, d)}, want ${hexAround(model.subarray(off, off + len), d)}`);
      } else if (pick < 85) {
        op = 'fsync';
        log.push(op);
        fs.fsyncSync(fd);
      } else if (pick < 90) {
        op = 'close+open';
        log.push(op);
        fs.closeSync(fd);
        fd = fs.openSync(file, fs.constants.O_RDWR);
      } else {
        const off = int(Math.max(1, model.length)), len = 1 + int(o.maxLen);
        op = `read ${off} ${len}`;
        log.push(op);
        const b = Buffer.alloc(len);
        const n = fs.readSync(fd, b, 0, len, off);
        const want = model.subarray(off, off + len);
        if (n !== want.length) return result(false, `op ${i} ${op}: got ${n} bytes, want ${want.length}`);
        const d = firstDiff(b.subarray(0, n), want);
        if (d >= 0) return result(false, `op ${i} ${op}: bytes differ at file offset ${off + d}: got ${hexAround(b, d)}, want ${hexAround(want, d)}`);
      }
      counts[op.split(' ')[0]!] = (counts[op.split(' ')[0]!] ?? 0) + 1;
      // The check after every operation: size through the open descriptor, content through a
      // new one (on FUSE, a new open drops the host's cached pages of the file).
      const size = fs.fstatSync(fd).size;
      if (size !== model.length) return result(false, `after op ${i} ${op}: got size ${size}, want ${model.length}`);
      const got = fs.readFileSync(file);
      const d = firstDiff(got, model);
      if (d >= 0) return result(false, `after op ${i} ${op}: content differs at offset ${d} (length got ${got.length}, want ${model.length}): got ${hexAround(got, d)}, want ${hexAround(model, d)}`);
    }
    return result(true, '');
  } finally {
    fs.closeSync(fd);
    helper?.close();
  }
}

/** The failure report: seed, message, and the last operations of the log. */
export function describe(r: FsxResult, last = 40): string {
  return `fsx seed ${r.seed}: ${r.message}\nlast operations (of ${r.log.length}):\n${r.log.slice(-last).join('\n')}`;
}
