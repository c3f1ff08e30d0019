/*
 * File names are bytes in Linux. Inside the kernel we hold them as "byte strings": JS strings whose
 * every char code is one byte (0..255). They are cheap Map keys, lossless for names that are not
 * UTF-8, and cost nothing to convert when the caller's path is ASCII (the common case).
 * Conversion happens only at the syscall boundary.
 */
export type ByteString = string;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** A JS (UTF-16) string to its UTF-8 bytes as a byte string. */
export function toByteString(s: string): ByteString {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return bytesToByteString(encoder.encode(s));
  }
  return s;
}

export function bytesToByteString(b: Uint8Array, start = 0, end = b.length): ByteString {
  let out = '';
  const CHUNK = 8192;
  for (let i = start; i < end; i += CHUNK) {
    out += String.fromCharCode.apply(null, b.subarray(i, Math.min(end, i + CHUNK)) as unknown as number[]);
  }
  return out;
}

export function byteStringToBytes(s: ByteString): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

/** Decode a byte string as UTF-8 for display (invalid sequences become U+FFFD). */
export function byteStringToUtf8(s: ByteString): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return decoder.decode(byteStringToBytes(s));
  }
  return s;
}

export function utf8Encode(s: string): Uint8Array { return encoder.encode(s); }
export function utf8Decode(b: Uint8Array): string { return decoder.decode(b); }
