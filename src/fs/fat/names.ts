/*
 * FAT names: 8.3 short names, VFAT long names, and how one is made from the other
 * (Linux's fs/fat/namei_vfat.c and the name half of dir.c).
 *
 * A short name is 11 bytes in the OEM code page (cp437 here, Linux's codepage=437 default):
 * base padded with spaces to 8, extension to 3, stored upper case; the NT reserved byte says
 * whether base/extension are to be shown lower case. A long name is UTF-16LE spread over
 * "LFN slots" of 13 units, stored in reverse before the short entry, each slot carrying the
 * checksum of the short name so that a stale long name is recognised and ignored.
 *
 * User-visible names are byte strings in the I/O charset: UTF-8 with iocharset=utf8 / utf8
 * (this driver's default, as most distributions' kernels), else ISO 8859-1 (one byte per unit
 * below 256, other units shown as '?').
 *
 * Short-name creation follows vfat_create_shortname: basis name from the long name (dots and
 * spaces skipped, "+,;=[]" replaced by '_', other untranslatable characters by '_', upper
 * cased, base cut at 8 and extension at 3 after the last dot), then, unless the name already
 * is a valid 8.3 name whose case the shortname= rule can store, a numeric tail ~1..~9 on the
 * first six characters, then a hex tail on the first two ("XXHHHH~N", Linux derives it from
 * jiffies; here from the clock).
 */
import { fail } from '../../lib/errors.js';
import { EINVAL, ENAMETOOLONG, ENOENT } from '../../uapi/errno.js';
import type { ByteString } from '../../lib/bytestr.js';
import { CASE_LOWER_BASE, CASE_LOWER_EXT, type FatOptions } from './fat.js';

/* cp437 0x80..0xff as Unicode. */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';
const UNI_TO_CP437 = new Map<number, number>();
for (let i = 0; i < 128; i++) UNI_TO_CP437.set(CP437_HIGH.charCodeAt(i), 0x80 + i);

export function cp437ToUni(b: number): number { return b < 0x80 ? b : CP437_HIGH.charCodeAt(b - 0x80); }
export function uniToCp437(u: number): number { return u < 0x80 ? u : UNI_TO_CP437.get(u) ?? -1; }

/** Unicode code units (UTF-16) to an I/O-charset byte string. */
export function uniToIo(units: number[], opts: FatOptions): ByteString {
  let s = '';
  if (!opts.utf8) {
    for (const u of units) s += String.fromCharCode(u < 256 ? u : 0x3f);
    return s;
  }
  for (let i = 0; i < units.length; i++) {
    let cp = units[i]!;
    if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < units.length && units[i + 1]! >= 0xdc00 && units[i + 1]! < 0xe000) {
      cp = 0x10000 + ((cp - 0xd800) << 10) + (units[++i]! - 0xdc00);
    }
    if (cp < 0x80) s += String.fromCharCode(cp);
    else if (cp < 0x800) s += String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) s += String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else s += String.fromCharCode(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return s;
}

/** An I/O-charset byte string to UTF-16 units; EINVAL for bytes that are not valid UTF-8. */
export function ioToUni(name: ByteString, opts: FatOptions): number[] {
  const out: number[] = [];
  if (!opts.utf8) { for (let i = 0; i < name.length; i++) out.push(name.charCodeAt(i)); return out; }
  for (let i = 0; i < name.length;) {
    const b = name.charCodeAt(i);
    let cp: number, n: number;
    if (b < 0x80) { cp = b; n = 1; }
    else if ((b & 0xe0) === 0xc0) { cp = b & 0x1f; n = 2; }
    else if ((b & 0xf0) === 0xe0) { cp = b & 0x0f; n = 3; }
    else if ((b & 0xf8) === 0xf0) { cp = b & 0x07; n = 4; }
    else fail(EINVAL);
    if (i + n > name.length) fail(EINVAL);
    for (let k = 1; k < n; k++) {
      const c = name.charCodeAt(i + k);
      if ((c & 0xc0) !== 0x80) fail(EINVAL);
      cp = (cp << 6) | (c & 0x3f);
    }
    i += n;
    if (cp >= 0x10000) { cp -= 0x10000; out.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff)); }
    else out.push(cp);
  }
  return out;
}

/** vfat_striptail_len: trailing dots do not count in a name. */
export function stripTail(name: ByteString): ByteString {
  let n = name.length;
  while (n && name.charCodeAt(n - 1) === 0x2e) n--;
  return name.slice(0, n);
}

/** Characters a long name may not contain (vfat_bad_char). */
function badChar(u: number): boolean {
  return u < 0x20 || u === 0x2a || u === 0x3f || u === 0x3c || u === 0x3e || u === 0x7c || u === 0x22 ||
    u === 0x3a || u === 0x5c;
}

/**
 * The long name to store for `name`: stripped of trailing dots, checked, as UTF-16 units.
 * ENOENT for an empty result, ENAMETOOLONG beyond 255 units, EINVAL for bad characters.
 */
export function toLongName(name: ByteString, opts: FatOptions): number[] {
  const s = stripTail(name);
  if (s.length === 0) fail(ENOENT);
  if (s.length >= 256 && !opts.utf8) fail(ENAMETOOLONG);
  const u = ioToUni(s, opts);
  if (u.length > 255) fail(ENAMETOOLONG);
  for (const c of u) if (badChar(c)) fail(EINVAL);
  return u;
}

/** The 8.3 name as shown, with the NT lower-case flags and the shortname= display rule. */
export function shortToDisplay(n11: Uint8Array, lcase: number, opts: FatOptions): ByteString {
  // msdos (no `nocase`) shows 8.3 names in lower case.
  const lowerAll = opts.shortname === 'lower' || !opts.isvfat;
  const asIs = opts.shortname === 'win95';
  const part = (from: number, to: number, lower: boolean): number[] => {
    let end = to;
    while (end > from && n11[end - 1] === 0x20) end--;
    const u: number[] = [];
    for (let i = from; i < end; i++) {
      let b = n11[i]!;
      if (i === 0 && b === 0x05) b = 0xe5;
      let c = cp437ToUni(b);
      if (!asIs && (lowerAll || lower)) c = cpLower(c);
      u.push(c);
    }
    return u;
  };
  const base = part(0, 8, (lcase & CASE_LOWER_BASE) !== 0);
  const ext = part(8, 11, (lcase & CASE_LOWER_EXT) !== 0);
  return uniToIo(ext.length ? [...base, 0x2e, ...ext] : base, opts);
}

/** The checksum a long name's slots carry of their short entry. */
export function lfnChecksum(n11: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < 11; i++) s = (((s & 1) << 7) + (s >> 1) + n11[i]!) & 0xff;
  return s;
}

/**
 * Case folding of the I/O charset for name comparison: vfat's utf8 NLS folds only ASCII;
 * iso8859-1 folds its Latin-1 letters too.
 */
export function foldName(s: ByteString, latin1 = false): ByteString {
  const re = latin1 ? /[A-Z\xc0-\xd6\xd8-\xde]/g : /[A-Z]/g;
  return stripTail(s).replace(re, (c) => String.fromCharCode(c.charCodeAt(0) + 0x20));
}

/** cp437 lower-case of a code unit, when the lower-case letter exists in cp437 (nls_tolower). */
function cpLower(c: number): number {
  if (c >= 0x41 && c <= 0x5a) return c + 0x20;
  if (c < 0x80) return c;
  const l = String.fromCharCode(c).toLowerCase();
  return l.length === 1 && UNI_TO_CP437.has(l.charCodeAt(0)) ? l.charCodeAt(0) : c;
}

/*
 * The cp437 case table of Linux's NLS (charset2upper) for bytes above 0x7f: only these letters
 * have an upper-case form inside the code page; every other byte is its own upper case.
 */
const CP437_UPPER = new Map<number, number>([
  [0x81, 0x9a], [0x82, 0x90], [0x84, 0x8e], [0x86, 0x8f], [0x87, 0x80], [0x91, 0x92], [0x94, 0x99],
  [0xa4, 0xa5], [0xe5, 0xe4], [0xed, 0xe8],
]);

/** nls_toupper for cp437. */
export function cpUpperByte(b: number): number {
  if (b >= 0x61 && b <= 0x7a) return b - 0x20;
  return b < 0x80 ? b : CP437_UPPER.get(b) ?? b;
}

interface CaseInfo { lower: boolean; upper: boolean }

/** to_shortname_char for one unit: cp437 byte(s) upper-cased, '_' for what cannot be stored. */
function toShortChar(u: number, info: CaseInfo): { b: number; exact: boolean } {
  if (u === 0x2b || u === 0x2c || u === 0x3b || u === 0x3d || u === 0x5b || u === 0x5d) {
    return { b: 0x5f, exact: false };
  }
  let b = uniToCp437(u);
  if (b < 0) return { b: 0x5f, exact: false };
  // Non-ASCII bytes have no case the NT flags could describe; they are stored upper-cased
  // through the code page all the same (é → É).
  if (b >= 0x7f) { info.lower = false; info.upper = false; b = cpUpperByte(b); }
  else if (b >= 0x61 && b <= 0x7a) { info.upper = false; b -= 0x20; }
  else if (b >= 0x41 && b <= 0x5a) info.lower = false;
  return { b, exact: true };
}

/**
 * vfat_create_shortname. `exists(n11)` says whether a short name is taken in the directory.
 * Returns the 11-byte name, the lower-case flags, and whether the short entry alone suffices
 * (no long-name slots needed).
 */
export function createShortname(uname: number[], opts: FatOptions, exists: (n11: Uint8Array) => boolean,
  entropy: number): { n11: Uint8Array; lcase: number; shortOnly: boolean } {
  const skip = (u: number) => u === 0x2e || u === 0x20;
  const ulen = uname.length;
  // Extension: after the last dot, unless that dot ends the name or only dots/spaces precede it.
  let extStart = -1, sz = ulen;
  for (let i = ulen - 1; i >= 0; i--) {
    if (uname[i] === 0x2e) {
      if (i !== ulen - 1) {
        let j = 0;
        while (j < i && skip(uname[j]!)) j++;
        if (j !== i) { extStart = i + 1; sz = i; }
      }
      break;
    }
  }
  const n11 = new Uint8Array(11).fill(0x20);
  const baseInfo: CaseInfo = { lower: true, upper: true };
  const extInfo: CaseInfo = { lower: true, upper: true };
  let isShort = true;
  let baselen = 0;
  for (let i = 0; i < sz; i++) {
    const u = uname[i]!;
    if (skip(u)) { isShort = false; continue; }
    if (baselen >= 8) { isShort = false; break; }
    const r = toShortChar(u, baseInfo);
    if (!r.exact) isShort = false;
    n11[baselen++] = r.b;
  }
  if (baselen === 0) fail(EINVAL);
  let extlen = 0;
  if (extStart >= 0) {
    for (let i = extStart; i < ulen; i++) {
      const u = uname[i]!;
      if (skip(u)) { isShort = false; continue; }
      if (extlen >= 3) { isShort = false; break; }
      const r = toShortChar(u, extInfo);
      if (!r.exact) isShort = false;
      n11[8 + extlen++] = r.b;
    }
  }
  if (n11[0] === 0xe5) n11[0] = 0x05;
  let lcase = 0;
  if (isShort) {
    if (exists(n11)) fail(17 /* EEXIST */);
    const createNT = opts.shortname === 'winnt';
    if (!createNT) {
      // Win95 rule (shortname=mixed|lower|win95): short-only when stored as typed (upper case).
      if (baseInfo.upper && extInfo.upper) return { n11, lcase: 0, shortOnly: true };
      return { n11, lcase: 0, shortOnly: false };
    }
    if ((baseInfo.upper || baseInfo.lower) && (extInfo.upper || extInfo.lower)) {
      if (!baseInfo.upper && baseInfo.lower) lcase |= CASE_LOWER_BASE;
      if (!extInfo.upper && extInfo.lower) lcase |= CASE_LOWER_EXT;
      return { n11, lcase, shortOnly: true };
    }
    return { n11, lcase: 0, shortOnly: false };
  }
  if (!opts.numtail && !exists(n11)) return { n11, lcase: 0, shortOnly: false };
  let bl = Math.min(baselen, 6);
  const digits = (s: string, at: number) => { for (let i = 0; i < s.length; i++) n11[at + i] = s.charCodeAt(i); };
  for (let i = bl; i < 8; i++) n11[i] = 0x20;
  for (let i = 1; i < 10; i++) {
    digits(`~${i}`, bl);
    if (!exists(n11)) return { n11, lcase: 0, shortOnly: false };
  }
  // Hex tail: two basis characters, four hex digits, ~ and a digit 1..8.
  let v = entropy & 0xffff;
  const tailDigit = (entropy >> 16) & 7;
  if (bl > 2) { bl = 2; for (let i = 2; i < 8; i++) n11[i] = 0x20; }
  digits(`~${1 + tailDigit}`, bl + 4);
  for (let tries = 0; tries < 0x10000; tries++) {
    digits(v.toString(16).toUpperCase().padStart(4, '0'), bl);
    if (!exists(n11)) return { n11, lcase: 0, shortOnly: false };
    v = (v - 11) & 0xffff;
  }
  fail(17 /* EEXIST */);
}

/**
 * msdos_format_name: the 8.3 form of a name for the msdos type (no long names). Base and
 * extension are cut silently at 8 and 3, letters upper-cased; characters no 8.3 name may
 * hold give EINVAL.
 */
export function msdosFormatName(name: ByteString): Uint8Array {
  const n11 = new Uint8Array(11).fill(0x20);
  if (name === '.' || name === '..') { for (let i = 0; i < name.length; i++) n11[i] = 0x2e; return n11; }
  const bad = (c: number) => c < 0x20 || '*?<>|"+=,; :\\[]/'.includes(String.fromCharCode(c));
  let i = 0, k = 0;
  if (name.charCodeAt(0) === 0x2e) fail(EINVAL);
  for (; i < name.length && name.charCodeAt(i) !== 0x2e; i++) {
    let c = name.charCodeAt(i);
    if (bad(c)) fail(EINVAL);
    if (c >= 0x61 && c <= 0x7a) c -= 0x20;
    if (k < 8) n11[k++] = c;
  }
  if (k === 0) fail(EINVAL);
  if (i < name.length) {
    i++;
    for (let e = 0; i < name.length; i++) {
      let c = name.charCodeAt(i);
      if (c === 0x2e || bad(c)) fail(EINVAL);
      if (c >= 0x61 && c <= 0x7a) c -= 0x20;
      if (e < 3) n11[8 + e++] = c;
    }
  }
  if (n11[0] === 0xe5) n11[0] = 0x05;
  return n11;
}
