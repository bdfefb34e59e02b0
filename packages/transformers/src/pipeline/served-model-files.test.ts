import { env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import { storiesDir } from '../onnx/onnx-fixtures.test-helper.js';
import { adapterPipeline } from './adapter-pipeline-node.js';
import { withServedModelFiles } from './served-model-files.js';

env.allowRemoteModels = false;
env.allowLocalModels = true;

describe('withServedModelFiles', () => {
  it('runs loads one at a time, and restores env.useCustomCache / env.customCache after each, failures included', async () => {
    const before = { useCustomCache: env.useCustomCache, customCache: env.customCache };
    const order: string[] = [];
    const slow = withServedModelFiles(new Map([['onnx/a.onnx', new Uint8Array(1)]]), async () => {
      order.push('a start');
      expect(env.useCustomCache).toBe(true);
      await new Promise((ok) => setTimeout(ok, 50));
      order.push('a end');
    });
    const failing = withServedModelFiles(new Map([['onnx/b.onnx', new Uint8Array(1)]]), async () => {
      order.push('b');
      throw new Error('load failed');
    });
    await slow;
    await expect(failing).rejects.toThrow('load failed');
    expect(order).toEqual(['a start', 'a end', 'b']);
    expect({ useCustomCache: env.useCustomCache, customCache: env.customCache }).toEqual(before);
  });

  it('serves each concurrent adapterPipeline load its own graph, with progress events', async () => {
    const events: string[] = [];
    const [a, b] = await Promise.all([
      adapterPipeline('text-generation', storiesDir(), { dtype: 'fp32', progress_callback: (e: { status: string; file?: string }) => void events.push(`${e.status} ${e.file ?? ''}`) }),
      adapterPipeline('text-generation', storiesDir(), { dtype: 'q4' }),
    ]);
    try {
      const inputs = (p: { model: unknown }): string[] => (p.model as { sessions: { model: { inputNames: string[] } } }).sessions.model.inputNames;
      expect(inputs(a).filter((n) => n.startsWith('runtime_lora.'))).toHaveLength(70);
      expect(inputs(b).filter((n) => n.startsWith('runtime_lora.'))).toHaveLength(70);
      expect(events).toContain('ready ');
      expect(env.useCustomCache).toBe(false);
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });
});
