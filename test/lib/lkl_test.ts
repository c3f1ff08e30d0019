/* LKL's test harness lives with the net-test program that ships it (src/apps/net_test/lkl_test.ts). */
export * from '../../src/apps/net_test/lkl_test.js';
