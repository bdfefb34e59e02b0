/**
 * Test-only access to the LoRA-Dash reference trajectory
 * (`reference/lora-dash-trajectory`, see its README) for the tsd-math tests.
 * Not exported from the package. Every path goes through `fixturePath`, so a
 * missing fixture fails loudly with FixtureMissingError.
 */
import { readFileSync } from 'node:fs';
import { SafetensorsError } from './errors.js';
import type { LoraFactors } from './lora-factors.js';
import type { Matrix } from './matrix.js';
import { fixturePath } from './testing/fixtures.js';
import { parseSafetensors, tensorToFloat32 } from './safetensors.js';

/** A float32 tensor read from a fixture file. */
export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

/** Reads every tensor of a safetensors fixture as float32 (through the package's own parser). */
export function readF32Safetensors(path: string): Map<string, F32Tensor> {
  const file = parseSafetensors(new Uint8Array(readFileSync(path)), path);
  const out = new Map<string, F32Tensor>();
  for (const [name, t] of file.tensors) out.set(name, { shape: t.shape, data: tensorToFloat32(t, name) });
  return out;
}

/** Fetches a tensor or fails naming it. */
export function tensor(map: Map<string, F32Tensor>, name: string): F32Tensor {
  const t = map.get(name);
  if (t === undefined) throw new SafetensorsError('tensor missing from fixture', { tensor: name });
  return t;
}

/** A 2-D fixture tensor as a Matrix. */
export function matrixOf(map: Map<string, F32Tensor>, name: string): Matrix<Float32Array> {
  const t = tensor(map, name);
  if (t.shape.length !== 2) throw new SafetensorsError(`expected 2-D, got [${t.shape.join(', ')}]`, { tensor: name });
  return { rows: t.shape[0] as number, cols: t.shape[1] as number, data: t.data };
}

/** One module's launch record from `launch.json`. */
export interface LaunchRecord {
  top_index: number[];
  change_rate: number[];
  sigma: number[];
  delta_sigma: number[];
}

/** The trajectory's hyperparameters and per-module launch records. */
export interface TrajectoryFixture {
  scaling: number;
  r: number;
  s: number;
  modules: string[];
  launch: Record<string, LaunchRecord>;
  /** Base weights of `hf/stories260K/model.safetensors`. */
  base: Map<string, F32Tensor>;
  launchState: Map<string, F32Tensor>;
  finalDash: Map<string, F32Tensor>;
}

let cached: TrajectoryFixture | undefined;

/** Loads (once per test file) everything the tsd-math fixture tests need. */
export function loadTrajectory(): TrajectoryFixture {
  if (cached !== undefined) return cached;
  const dir = ['reference', 'lora-dash-trajectory'];
  const config = JSON.parse(readFileSync(fixturePath(...dir, 'config.json'), 'utf8')) as {
    scaling: number;
    r: number;
    dash_directions_s: number;
  };
  const launchJson = JSON.parse(readFileSync(fixturePath(...dir, 'launch.json'), 'utf8')) as {
    modules: Record<string, LaunchRecord>;
  };
  cached = {
    scaling: config.scaling,
    r: config.r,
    s: config.dash_directions_s,
    modules: Object.keys(launchJson.modules),
    launch: launchJson.modules,
    base: readF32Safetensors(fixturePath('reference', 'hf', 'stories260K', 'model.safetensors')),
    launchState: readF32Safetensors(fixturePath(...dir, 'launch_state.safetensors')),
    finalDash: readF32Safetensors(fixturePath(...dir, 'final_lora_dash.safetensors')),
  };
  return cached;
}

/** PEFT key prefix of a module in the trajectory files. */
export function peftKey(module: string): string {
  return `base_model.model.${module}`;
}

/** The LoRA factors of `module` stored in one of the trajectory files. */
export function factorsOf(file: Map<string, F32Tensor>, module: string, scaling: number): LoraFactors {
  return {
    A: matrixOf(file, `${peftKey(module)}.lora_A.weight`),
    B: matrixOf(file, `${peftKey(module)}.lora_B.weight`),
    scaling,
  };
}

/** Base weight W [out, in] of `module`. */
export function baseWeight(fx: TrajectoryFixture, module: string): Matrix<Float32Array> {
  return matrixOf(fx.base, `${module}.weight`);
}
