/* CRC-16 (0x8005 reflected, Linux lib/crc16) check values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc16 } from '../../../src/lib/crc16.js';

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

test('crc16 "123456789" seed 0 is CRC-16/ARC 0xbb3d', () => {
  const got = crc16(0, ascii('123456789'));
  assert.equal(got, 0xbb3d, `got 0x${got.toString(16)}, want 0xbb3d`);
});

test('crc16 "123456789" seed 0xffff is CRC-16/MODBUS 0x4b37', () => {
  const got = crc16(0xffff, ascii('123456789'));
  assert.equal(got, 0x4b37, `got 0x${got.toString(16)}, want 0x4b37`);
});

test('crc16 chains across split buffers', () => {
  const d = ascii('hello, group descriptors');
  assert.equal(crc16(crc16(0xffff, d, 0, 5), d, 5), crc16(0xffff, d));
});
