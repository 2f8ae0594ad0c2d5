/**
 * What the kernel reports about a process we started: resident memory
 * (VmRSS in /proc/PID/status) and CPU time (utime + stime in /proc/PID/stat,
 * in clock ticks of 1/100 s on Linux). Both read 0 once the process is gone.
 */
import { readFileSync } from 'node:fs';

/** VmRSS in kB, or 0 when the process (or the line) is gone. */
export function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat), or 0
 * when the process is gone; with `tid`, of that one thread (its main
 * thread: tid = pid).
 */
export function cpuTicks(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}
