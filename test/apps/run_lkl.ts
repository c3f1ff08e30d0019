/*
 * Run the built `lkl` program (dist/src/apps/lkl.js) as a child process with the given stdin,
 * collecting its output and exit status. A watchdog kills it if it does not exit by itself: the
 * program must leave no handle behind after halt, so a hang is a failure, not a slow test.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const LKL_BIN = fileURLToPath(new URL('../../src/apps/lkl.js', import.meta.url));

export interface LklRun { stdout: string; stderr: string; code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }

export function runLkl(args: string[], input = '', timeoutMs = 20_000): Promise<LklRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LKL_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ stdout, stderr, code, signal, timedOut }); });
    // The child may halt and exit before reading everything: that is not an error here.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}
