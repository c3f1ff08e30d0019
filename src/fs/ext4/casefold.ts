/*
 * Case-insensitive names (fs/unicode/utf8-core.c as ext4 uses it for +F directories).
 *
 * A filesystem made with `-O casefold` records an encoding in the superblock (only
 * EXT4_ENC_UTF8_12_1 exists) and directories flagged EXT4_CASEFOLD_FL (chattr +F) compare names
 * case-insensitively and hash the folded name in their htree. Linux folds with "nfdicf": full
 * Unicode case folding (CaseFolding.txt statuses C and F) followed by canonical decomposition
 * (NFD). A name that is not valid UTF-8 cannot be folded: it is hashed as raw bytes and matches
 * only itself, byte for byte.
 *
 * We have no copy of Linux's utf8data tables; we compute the same relation from the host
 * JavaScript engine's Unicode data: NFD, then full case folding per code point, then NFD again
 * (the fold of a decomposed character may itself decompose or need canonical reordering).
 * JavaScript has no casefold(), so one code point folds as toLowerCase(toUpperCase(c)), which is
 * the CaseFolding.txt C+F mapping except for two families fixed below:
 *   - U+0131 LATIN SMALL LETTER DOTLESS I folds to itself (the round trip gives 'i');
 *   - U+1E9E LATIN CAPITAL LETTER SHARP S folds to "ss" (the round trip gives U+00DF);
 *   - Cherokee folds to its UPPERCASE letters (U+13A0..U+13F5), the reverse of the round trip.
 * Case pairs added after Unicode 12.1 (U+2C2F, U+A7C0.., Vithkuqi, Garay, ...) are listed in
 * NEWER_CASED and fold to themselves, as Linux's 12.1 tables leave them.
 * Known remaining divergence from Linux (utf8-12.1): a character added after 12.1 that has a
 * canonical decomposition is decomposed by our newer NFD but left whole by Linux, and a case pair
 * added in a Unicode version newer than this list folds here. Names made only of characters from
 * Unicode 12.1 fold identically. casefold.test.ts checks every BMP code point against Python's str.casefold when
 * a python3 is available.
 */

/** s_encoding values. */
export const EXT4_ENC_UTF8_12_1 = 1;
/** s_encoding_flags: reject invalid names (on create; lookups of such names match nothing). */
export const EXT4_ENC_STRICT_MODE_FL = 0x1;

const fatalDecoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** The name's bytes as a JS string, or null when they are not valid UTF-8 (utf8_validate). */
export function decodeUtf8Strict(name: Uint8Array): string | null {
  try { return fatalDecoder.decode(name); } catch { return null; }
}

/**
 * Case pairs added to Unicode after 12.1: Linux's tables do not know them, so they fold to
 * themselves there. Only scripts with case are listed (new caseless characters fold to themselves
 * anyway).
 */
const NEWER_CASED: readonly (readonly [number, number])[] = [
  [0x1c89, 0x1c8a], [0x2c2f, 0x2c2f], [0x2c5f, 0x2c5f], [0xa7c0, 0xa7c1], [0xa7c7, 0xa7ff],
  [0x10570, 0x105bf], [0x10d50, 0x10d8f], [0x16ea0, 0x16edf],
];
function newerThan12_1(cp: number): boolean {
  for (const [a, b] of NEWER_CASED) if (cp >= a && cp <= b) return true;
  return false;
}

/** Full case folding of one code point (CaseFolding.txt, statuses C and F). */
export function foldCodePoint(cp: number): string {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? String.fromCharCode(cp + 0x20) : String.fromCharCode(cp);
  if (cp === 0x131) return '\u0131';
  // LATIN CAPITAL LETTER SHARP S lowercases to U+00DF but folds (status F) to "ss".
  if (cp === 0x1e9e) return 'ss';
  // Cherokee: small letters fold to the capital block; capitals fold to themselves.
  if (cp >= 0xab70 && cp <= 0xabbf) return String.fromCharCode(cp - 0xab70 + 0x13a0);
  if (cp >= 0x13f8 && cp <= 0x13fd) return String.fromCharCode(cp - 8);
  if (cp >= 0x13a0 && cp <= 0x13f5) return String.fromCharCode(cp);
  if (newerThan12_1(cp)) return String.fromCodePoint(cp);
  return String.fromCodePoint(cp).toUpperCase().toLowerCase();
}

/** nfdicf of a JS string. */
export function casefoldString(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) { ascii = false; break; }
  if (ascii) return s.toLowerCase();
  let out = '';
  for (const ch of s.normalize('NFD')) out += foldCodePoint(ch.codePointAt(0)!);
  return out.normalize('NFD');
}

/**
 * utf8_casefold: the folded UTF-8 bytes of a name, or null if the name is not valid UTF-8 (the
 * caller then hashes and compares the raw bytes).
 */
export function utf8Casefold(name: Uint8Array): Uint8Array | null {
  const s = decodeUtf8Strict(name);
  if (s === null) return null;
  return encoder.encode(casefoldString(s));
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A lookup name prepared for a casefolded directory (ext4_fname_setup_ci_filename): the user's
 * bytes and their fold (null when not valid UTF-8).
 */
export class CiName {
  readonly bytes: Uint8Array;
  readonly folded: Uint8Array | null;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.folded = utf8Casefold(bytes);
  }

  /**
   * generic_ci_match: an exact byte match first (cheap, and the only way an invalid name can
   * match), then the folded forms. An on-disk name that cannot be folded matches nothing else.
   */
  matches(de: Uint8Array, start = 0, end = de.length): boolean {
    const len = end - start;
    if (len === this.bytes.length) {
      let eq = true;
      for (let i = 0; i < len; i++) if (de[start + i] !== this.bytes[i]) { eq = false; break; }
      if (eq) return true;
    }
    if (!this.folded) return false;
    const other = utf8Casefold(de.subarray(start, end));
    return other !== null && bytesEqual(other, this.folded);
  }
}
