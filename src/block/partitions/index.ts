/*
 * Partition tables (MBR with extended/logical partitions, GPT with its backup), read with Linux's
 * rules. The block layer calls scanPartitions() when a disk is added and creates vda<N> for each
 * result; see core.ts for the contract and check.ts for the units (512-byte sectors).
 */
export type { PartitionInfo, PartitionLineToken, ScanOptions } from './check.js';
export { scanPartitions, scanPartitionTable, formatPartitionLine, DISK_MAX_PARTS } from './core.js';
export type { PartitionTable, PartitionLabel } from './core.js';
export { parseGptHeader, guidToString, type GptHeader } from './efi.js';
