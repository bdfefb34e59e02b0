/**
 * Test-only backend selection for the trainer's tests: the package's
 * `setupBackend` (gradient and chained-op registrations, wasm paths, gradient
 * fixes) with the backend named explicitly, so the numerics are pinned: 'cpu'
 * computes every elementwise op in float64 and rounds once to float32 (correctly
 * rounded IEEE fp32), which the bitwise Adam checks rely on; 'wasm' is the
 * default Node backend.
 */
import { setupBackend } from '../../backend/setup.js';

/** Selects and initialises a tfjs backend by name. */
export async function useBackend(name: 'cpu' | 'wasm'): Promise<void> {
  await setupBackend(name);
}
