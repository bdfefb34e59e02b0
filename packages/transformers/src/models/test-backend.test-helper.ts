import { setupBackend } from '@tsd-peft/tfjs';

/**
 * Makes wasm the active TF.js backend for a test file, through the same
 * `setupBackend` the trainer and bench use (tfjs-core gradients plus the
 * wasm gradient fixes). Tests run on wasm because that is where the bench trains.
 */
export async function useWasmBackend(): Promise<void> {
  await setupBackend('wasm');
}
