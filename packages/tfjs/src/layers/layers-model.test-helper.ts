/**
 * Test-only pieces for the layers API: a small Dense model, a seeded
 * classification batch, a memory round trip through `model.save` /
 * `tf.loadLayersModel`, and a Node file IO handler (tfjs-node's file:// is
 * not installed here) that writes model.json + weights.bin atomically.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { writeFilesAtomic } from '@tsd-peft/core/node';
import { afterAll, beforeAll } from 'vitest';
import { setupBackend } from '../backend/setup.js';

/** A labelled batch. */
export interface Batch {
  x: tf.Tensor2D;
  y: tf.Tensor2D;
}

/**
 * Selects `backend` before the enclosing describe's tests and makes the
 * batch `make` builds there (disposed after them); read it through the getter.
 */
export function useBackendBatch(backend: 'cpu' | 'wasm', make: () => Batch): () => Batch {
  let batch: Batch | undefined;
  beforeAll(async () => {
    await setupBackend(backend);
    batch = make();
  });
  afterAll(() => tf.dispose(batch === undefined ? [] : [batch.x, batch.y]));
  return () => {
    if (batch === undefined) throw new Error('batch read before beforeAll ran');
    return batch;
  };
}

/** Input width, hidden widths and classes of {@link denseModel}. */
export const DIMS = { input: 6, hidden: 12, mid: 10, classes: 3 } as const;

/** Sequential Dense → Dense → Dense softmax classifier with seeded Glorot kernels. */
export function denseModel(): tfl.LayersModel {
  const init = (seed: number) => tfl.initializers.glorotNormal({ seed });
  return tfl.sequential({
    layers: [
      tfl.layers.dense({ units: DIMS.hidden, inputShape: [DIMS.input], activation: 'relu', name: 'hidden', kernelInitializer: init(1), biasInitializer: 'glorotUniform' }),
      tfl.layers.dense({ units: DIMS.mid, activation: 'tanh', name: 'mid', kernelInitializer: init(2) }),
      tfl.layers.dense({ units: DIMS.classes, activation: 'softmax', name: 'out', kernelInitializer: init(3) }),
    ],
  });
}

/** 48 seeded examples labelled by a fixed random linear teacher. */
export function teacherBatch(): { x: tf.Tensor2D; y: tf.Tensor2D } {
  return tf.tidy(() => {
    const x = tf.randomNormal([48, DIMS.input], 0, 1, 'float32', 11) as tf.Tensor2D;
    const teacher = tf.randomNormal([DIMS.input, DIMS.classes], 0, 1, 'float32', 12);
    const y = tf.oneHot(tf.argMax(tf.matMul(x, teacher), 1), DIMS.classes).toFloat() as tf.Tensor2D;
    return { x, y };
  });
}

/** Largest |a − b| over two same-shaped tensors. */
export function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/** Mean loss of the compiled model on (x, y). */
export function lossOf(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  const out = model.evaluate(x, y) as tf.Scalar | tf.Scalar[];
  const loss = Array.isArray(out) ? (out[0] as tf.Scalar) : out;
  const value = loss.dataSync()[0] as number;
  tf.dispose(out);
  return value;
}

/** `model.save` into memory and `tf.loadLayersModel` back, through tf.io's memory handlers. */
export async function memoryRoundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (saved === undefined) throw new Error('save handler was not called');
  return tfl.loadLayersModel(tf.io.fromMemory(saved));
}

/** An IO handler that saves model.json + weights.bin into `dir` (atomically) and loads them back. */
export function fileHandler(dir: string): tf.io.IOHandler {
  return {
    save: async (artifacts) => {
      const weightData = artifacts.weightData;
      const buffers = weightData === undefined ? [] : Array.isArray(weightData) ? weightData : [weightData];
      const weights = new Uint8Array(tf.io.concatenateArrayBuffers(buffers));
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
      };
      writeFilesAtomic([
        [join(dir, 'weights.bin'), weights],
        [join(dir, 'model.json'), JSON.stringify(modelJson)],
      ]);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.byteLength } };
    },
    load: async () => {
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      const bytes = readFileSync(join(dir, 'weights.bin'));
      const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      return { modelTopology: json.modelTopology, weightSpecs: json.weightsManifest.flatMap((g) => g.weights), weightData };
    },
  };
}
