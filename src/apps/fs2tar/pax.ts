/*
 * POSIX pax extended-header records, as bytes.
 *
 * A pax archive puts before an entry's ustar header an extended header (typeflag 'x') whose body
 * is a list of records "LEN KEY=VALUE\n", LEN counting the whole record in decimal, its own
 * digits included. Values are byte strings: GNU tar stores an xattr value verbatim in
 * "SCHILY.xattr.NAME" (ACLs and capabilities are binary, with 0xff bytes), and a file name that is
 * not UTF-8 goes in "path" raw, flagged by "hdrcharset=BINARY".
 *
 * Tar libraries (node-tar, tar-stream) write pax headers themselves, but build the body as a JS
 * string encoded as UTF-8, which changes every byte that is not valid UTF-8. So records are built
 * here, as bytes; tar_writer.ts frames them and has node-tar encode every 512-byte header.
 *
 * Keywords used, with their readers:
 *   path, linkpath, size, uid, gid, mtime, atime, ctime, hdrcharset   POSIX.1-2001
 *   SCHILY.xattr.NAME     star, GNU tar (--xattrs), libarchive
 * An xattr name is written with '%' and '=' percent-encoded, as GNU tar does, since the first '='
 * of a record ends its keyword.
 */

const enc = new TextEncoder();

/** A key or value: bytes, or text (ASCII is copied directly; anything else goes through UTF-8). */
type Field = string | Uint8Array;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function put(out: Uint8Array, o: number, f: Field): number {
  if (typeof f !== 'string') { out.set(f, o); return o + f.length; }
  for (let i = 0; i < f.length; i++) out[o++] = f.charCodeAt(i);
  return o;
}

export class PaxRecords {
  // Records are kept as parts and laid out once by bytes(): one allocation per header.
  private fields: Field[] = [];
  private lens: number[] = [];
  private total = 0;

  /** Add one record; value as text or as raw bytes. */
  add(key: Field, value: Field): this {
    const k = typeof key === 'string' && !isAscii(key) ? enc.encode(key) : key;
    const v = typeof value === 'string' && !isAscii(value) ? enc.encode(value) : value;
    // " KEY=VALUE\n" plus the length field, whose digit count feeds back into the length.
    const rest = 1 + k.length + 1 + v.length + 1;
    let digits = String(rest).length;
    if (String(rest + digits).length > digits) digits++;
    const len = rest + digits;
    this.fields.push(k, v);
    this.lens.push(len);
    this.total += len;
    return this;
  }

  get length(): number { return this.total; }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.total);
    let o = 0;
    for (let i = 0; i < this.lens.length; i++) {
      o = put(out, o, `${this.lens[i]} `);
      o = put(out, o, this.fields[2 * i]!);
      out[o++] = 0x3d; // '='
      o = put(out, o, this.fields[2 * i + 1]!);
      out[o++] = 0x0a;
    }
    return out;
  }
}

/** "SCHILY.xattr." + name with '%' and '=' escaped (GNU tar's xattr_encode_keyword). */
const XATTR_PREFIX = enc.encode('SCHILY.xattr.');
export function xattrKeyword(name: Uint8Array): Uint8Array {
  const prefix = XATTR_PREFIX;
  let extra = 0;
  for (const b of name) if (b === 0x25 || b === 0x3d) extra += 2;
  const out = new Uint8Array(prefix.length + name.length + extra);
  out.set(prefix);
  let o = prefix.length;
  for (const b of name) {
    if (b === 0x25) { out[o++] = 0x25; out[o++] = 0x32; out[o++] = 0x35; }      // %25
    else if (b === 0x3d) { out[o++] = 0x25; out[o++] = 0x33; out[o++] = 0x44; } // %3D
    else out[o++] = b;
  }
  return out;
}

/**
 * A timestamp as a pax decimal: seconds, then up to nine fraction digits with trailing zeros
 * dropped ("1700000000.5"). Times before 1970 are negative decimals: sec=-2, nsec=5e8 is "-1.5".
 */
export function paxTime(sec: number, nsec: number): string {
  let neg = false;
  let s = sec, ns = nsec;
  if (s < 0) {
    neg = true;
    // -(sec + nsec/1e9) = (-sec - 1) + (1e9 - nsec)/1e9 when nsec > 0.
    if (ns > 0) { s = -s - 1; ns = 1_000_000_000 - ns; } else s = -s;
  }
  let frac = '';
  if (ns !== 0) {
    frac = String(ns).padStart(9, '0');
    let end = frac.length;
    while (frac.charCodeAt(end - 1) === 0x30) end--;
    frac = '.' + frac.slice(0, end);
  }
  return `${neg ? '-' : ''}${s}${frac}`;
}

/** True when the bytes are valid UTF-8 (TextDecoder in fatal mode). */
const strict = new TextDecoder('utf-8', { fatal: true });
export function isUtf8(b: Uint8Array): boolean {
  // Nearly every name is ASCII: only a name with a high byte pays for the decoder.
  let i = 0;
  while (i < b.length && b[i]! < 0x80) i++;
  if (i === b.length) return true;
  try { strict.decode(b); return true; } catch { return false; }
}

/** True when every byte is printable ASCII (what may stand in a ustar name field as is). */
export function isPlainAscii(b: Uint8Array): boolean {
  for (const c of b) if (c < 0x20 || c > 0x7e) return false;
  return true;
}
