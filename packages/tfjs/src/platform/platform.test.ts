import { ConfigError } from '@tsd-peft/core';
import { beforeAll, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { indexedBatches } from '../trainer/data-source.js';
import { useBackend } from '../trainer/test-fixtures/backend.js';
import { GrowingMlp, mseLoss, takeRows, toyDataset, type ToyBatch } from '../trainer/test-fixtures/toy-models.js';
import { train } from '../trainer/train.js';
import * as browserBranch from './browser.js';
import type * as nodeBranch from './node.js';

// What a browser bundle resolves `#platform` to (package.json "imports", `browser` condition).
vi.mock('#platform', () => import('./browser.js'));

describe('the browser branch of #platform', () => {
  beforeAll(() => useBackend('cpu'));

  it('exports the same functions, with the same types, as the Node branch', () => {
    // tsc checks this line: a branch that drifts from the other fails the type-check.
    expectTypeOf(browserBranch).toEqualTypeOf<typeof nodeBranch>();
    expect(Object.keys(browserBranch).sort()).toEqual(['directoryCheckpointStore', 'hasGpuDeviceNode', 'installedWasmFolder', 'registerModuleHooks']);
  });

  it('makes train({ checkpoint: { dir } }) a ConfigError that names the folder and points to checkpoint.store', async () => {
    const data = toyDataset(8, 40, 3, 2);
    const model = new GrowingMlp({ seed: 3, inDim: 3, hidden: 4, outDim: 2, growAt: Infinity });
    const run = train({
      model,
      data: indexedBatches(
        (i: number) => takeRows(data, [i % 40], 3, 2),
        (b: ToyBatch) => b.rows * 2,
      ),
      lossFn: (b) => mseLoss(model, b, 3, 2),
      steps: 2,
      lr: 1e-2,
      checkpoint: { dir: 'runs/a' },
    });
    await expect(run).rejects.toBeInstanceOf(ConfigError);
    await expect(run).rejects.toThrow(/checkpoint\.dir \('runs\/a'\) needs a file system.*checkpoint\.store/);
  });

  it('says to pass wasmPaths instead of a folder lookup', async () => {
    await expect(browserBranch.installedWasmFolder()).rejects.toThrow(/wasmPaths/);
  });
});
