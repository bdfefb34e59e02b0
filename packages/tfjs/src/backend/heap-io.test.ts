/**
 * Tensor reads and writes from JavaScript on the wasm heap (views of tensor
 * memory) and on the cpu backend (dataSync / upload): what is written into
 * the views is what the tensors hold, reads see the tensors' values, and
 * the views stay valid when later allocations grew the heap before them.
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
      // enough to grow a small wasm heap between allocating outputs and reading inputs: views are taken after
      const outputs = heapOutputs([...shapes, [1 << 22]]);
      const views = readViews(inputs);
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
