/*
 * The random devices live with the other major-1 devices in mem.ts (as Linux registers them from
 * drivers/char/mem.c); this file re-exports what getrandom(2) shares with them.
 */
export { fillRandom, RANDOM_MINOR, URANDOM_MINOR } from './mem.js';
