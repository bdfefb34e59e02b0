import { execFileSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@tsd-peft/core';
import { describe, expect, it } from 'vitest';
import { installedWasmFolder } from '../platform/node.js';
import { setupBackend } from './setup.js';
import { TFJS_CORE_ESM_HOOKS_SOURCE } from './tfjs-registrations.js';

describe('setupBackend', () => {
  it('picks wasm in Node (tfjs-node is not installed here) and registers gradients and chained ops', async () => {
    const name = await setupBackend();
    expect(name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(x, x)))(tf.tensor1d([1, -2, 3]));
    expect(Array.from(g.dataSync())).toEqual([2, -4, 6]);
    // chained ops are registered on the Tensor prototype
    const t = tf.tensor1d([3]);
    expect((t as unknown as { square: () => tf.Tensor }).square().dataSync()[0]).toBe(9);
    tf.dispose([g, t]);
    // is idempotent
    expect(await setupBackend()).toBe('wasm');
  });

  it('switches to an explicitly preferred backend, which later calls without a preference keep', async () => {
    expect(await setupBackend('cpu')).toBe('cpu');
    expect(await setupBackend()).toBe('cpu');
    expect(await setupBackend('wasm')).toBe('wasm');
    expect(await setupBackend()).toBe('wasm');
  });

  it('refuses a preferred backend that cannot run here, saying why', async () => {
    await expect(setupBackend('webgl')).rejects.toBeInstanceOf(ConfigError);
    await expect(setupBackend('webgl')).rejects.toThrow(/WebGL is not available in Node/);
    await expect(setupBackend('tensorflow')).rejects.toThrow(/@tensorflow\/tfjs-node could not be imported/);
    await expect(setupBackend('nope' as 'cpu')).rejects.toThrow(/unknown backend 'nope'/);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('finds the .wasm binaries inside the installed package', async () => {
    const { readdirSync } = await import('node:fs');
    const files = readdirSync(await installedWasmFolder());
    expect(files).toContain('tfjs-backend-wasm-simd.wasm');
    expect(files).toContain('tfjs-backend-wasm.wasm');
  });

  it('loads tfjs-core gradients from a plain Node ESM process through the resolve hook', () => {
    // Plain Node (no bundler) cannot import tfjs-core's ESM gradient files on
    // its own; this child process does exactly what the fallback does.
    const script = `
      import { register } from 'node:module';
      import * as tf from '@tensorflow/tfjs-core';
      import * as wasm from '@tensorflow/tfjs-backend-wasm';
      register('data:text/javascript,' + encodeURIComponent(process.env.HOOKS));
      await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
      wasm.setWasmPaths(process.env.WASM_DIR);
      await tf.setBackend('wasm');
      const g = tf.grad((x) => tf.sum(tf.matMul(x, x)))(tf.tensor2d([1, 2, 3, 4], [2, 2]));
      console.log(JSON.stringify({ backend: tf.getBackend(), grad: Array.from(g.dataSync()) }));
    `;
    const plain = `try { await import('@tensorflow/tfjs-core/dist/register_all_gradients.js'); console.log('loaded'); }
      catch (e) { console.log(e.code); }`;
    const plainOut = execFileSync(process.execPath, ['--input-type=module', '-e', plain], { cwd: process.cwd(), encoding: 'utf8' });
    expect(plainOut.trim()).toBe('ERR_MODULE_NOT_FOUND');
    return installedWasmFolder().then((dir) => {
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: process.cwd(),
        env: { ...process.env, HOOKS: TFJS_CORE_ESM_HOOKS_SOURCE, WASM_DIR: dir },
        encoding: 'utf8',
      });
      const result = JSON.parse(out.trim().split('\n').pop() as string) as { backend: string; grad: number[] };
      expect(result.backend).toBe('wasm');
      // Σᵢⱼ (X·X)ᵢⱼ = Σᵢⱼₖ XᵢₖXₖⱼ, so ∂/∂X_pq = Σⱼ X_qj + Σᵢ X_ip (exact in fp32 for these integers).
      const X = [1, 2, 3, 4];
      const expected = [0, 0, 0, 0];
      for (let p = 0; p < 2; p++) {
        for (let q = 0; q < 2; q++) {
          expected[p * 2 + q] = (X[q * 2] as number) + (X[q * 2 + 1] as number) + (X[p] as number) + (X[2 + p] as number);
        }
      }
      expect(result.grad).toEqual(expected);
    });
  });
});
