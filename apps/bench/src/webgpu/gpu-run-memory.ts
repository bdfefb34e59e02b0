import { releaseWebGpuBufferPool, resetPeakGpuMemory, webGpuMemory } from '@tsd-peft/tfjs';

/**
 * Between bench runs on `--backend webgpu`: logs the run's peak GPU memory
 * (live tensors + tfjs's pool of freed buffers, the high-water mark since the
 * previous call), destroys the pooled buffers (tfjs never frees them, so runs
 * would otherwise stack up GPU memory), and starts the next peak window.
 * Does nothing on host backends. Returns the peak in bytes, or null.
 */
export function releaseGpuAfterRun(log: (line: string) => void): number | null {
  const memory = webGpuMemory();
  if (memory === null) return null;
  const released = releaseWebGpuBufferPool();
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  log(`webgpu: run peak GPU memory ${mib(memory.peakAllocatedBytes)}; released ${mib(released)} of pooled buffers, ${mib(memory.usedBytes)} still live`);
  resetPeakGpuMemory();
  return memory.peakAllocatedBytes;
}
