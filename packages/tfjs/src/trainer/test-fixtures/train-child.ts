/**
 * Child process of the SIGKILL resume test (resume-sigkill.test.ts), bundled
 * from these sources with esbuild by the test (vitest's aliases do not exist in
 * a child). Runs the shared toy setup on the tfjs 'cpu' backend and writes its
 * final losses and weights as JSON. Arguments: one JSON object (ChildArgs).
 */
import { writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { snapshotWeights, toyRun, type ToyRunOptions } from './toy-run.js';
import type { EvalRecord } from '../progress.js';

/** What the parent passes as argv[2]. */
export interface ChildArgs {
  steps: number;
  growAt: number;
  checkpointDir: string;
  checkpointEvery: number;
  resume: boolean;
  /** Pause after each step so the parent can kill the run mid-way. */
  delayMs: number;
  outFile: string;
}

/** What the child writes to `outFile` when it finishes. */
export interface ChildOutput {
  completedSteps: number;
  resumedFromStep: number | null;
  lossHistory: number[];
  evalHistory: EvalRecord[];
  weights: Record<string, number[]>;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
await tf.setBackend('cpu');
await tf.ready();
const options: ToyRunOptions = {
  steps: args.steps,
  growAt: args.growAt,
  checkpointDir: args.checkpointDir,
  checkpointEvery: args.checkpointEvery,
  resume: args.resume,
};
if (args.delayMs > 0) options.onProgress = () => new Promise((resolve) => setTimeout(resolve, args.delayMs));
const { model, result } = await toyRun(options);
const output: ChildOutput = {
  completedSteps: result.completedSteps,
  resumedFromStep: result.resumedFromStep,
  lossHistory: result.lossHistory,
  evalHistory: result.evalHistory,
  weights: snapshotWeights(model),
};
writeFileSync(args.outFile, JSON.stringify(output));
