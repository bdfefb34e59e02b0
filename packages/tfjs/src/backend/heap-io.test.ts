/**
 * Tensor reads and writes from JavaScript on the wasm heap (views of tensor
 * memory) and on the cpu backend (dataSync / upload): what is written into
 * the views is what the tensors hold, reads see the tensors' values, and
 * the output views are taken after the allocation that grew the heap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { setupBackend } from './setup.js';
import { heapOutputs, readViews } from './heap-io.js';

afterAll(async () => {
  await setupBackend('wasm');
});

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`heap tensor I/O on ${backend}`, () => {
    it('writes through the views into new tensors and reads tensors back', async () => {
      await setupBackend(backend);
      const shapes = [[3, 5], [7], [1, 1, 2]];
      const inputs = shapes.map((s, i) => tf.add(tf.range(0, tf.util.sizeFromShape(s)).reshape(s), i * 100));
      const before = tf.memory().numTensors;
      const heapBytes = () => (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.buffer.byteLength ?? 0;
      const heapBefore = heapBytes();
      // the last output (64 MiB) grows the heap: views taken before it would be detached (length 0)
      const outputs = heapOutputs([...shapes, [1 << 24]]);
      if (backend === 'wasm') expect(heapBytes()).toBeGreaterThan(heapBefore);
      const views = readViews(inputs);
      expect(outputs.views.map((v) => v.length)).toEqual([15, 7, 2, 1 << 24]);
      expect(views.map((v) => Array.from(v))).toEqual(inputs.map((t) => Array.from(t.dataSync())));
      outputs.views.forEach((view, i) => view.set(i < shapes.length ? (views[i] as Float32Array).map((x) => -x) : [42], 0));
      const tensors = outputs.tensors();
      expect(tf.memory().numTensors).toBe(before + shapes.length + 1);
      tensors.slice(0, shapes.length).forEach((t, i) => {
        expect(t.shape).toEqual(shapes[i]);
        expect(t.dtype).toBe('float32');
        expect(Array.from(t.dataSync())).toEqual(Array.from((inputs[i] as tf.Tensor).dataSync(), (x) => -x));
      });
      expect((tensors[shapes.length] as tf.Tensor).dataSync()[0]).toBe(42);
      // the outputs are ordinary tensors: ops read them, disposal frees them
      expect(tf.sum(tensors[0] as tf.Tensor).dataSync()[0]).toBe(-105);
      tf.dispose([...inputs, ...tensors]);
    });
  });
}
