/* Prints docs/syscalls.md from the syscall table (npm run docs:syscalls). */
import { buildTable } from '../src/syscalls/index.js';

const table = buildTable().filter(Boolean);
const count = (s: string) => table.filter((e) => e.support === s).length;
const lines = [
  '# System calls',
  '',
  'Generated from `src/syscalls/table.ts` by `npm run docs:syscalls`; do not edit.',
  '',
  `${table.length} asm-generic system calls: ${count('full')} full, ${count('partial')} partial, ${count('none')} not implemented (return -ENOSYS).`,
  '',
  '| nr | name | support | note |',
  '|---:|---|---|---|',
  ...table.map((e) => `| ${e.nr} | ${e.name} | ${e.support} | ${e.note.replace(/\|/g, '\\|')} |`),
  '',
];
process.stdout.write(lines.join('\n'));
