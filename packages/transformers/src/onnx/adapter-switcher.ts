/**
 * Feeding runtime adapters (see `runtime-adapters.ts`) into an onnxruntime
 * session, directly or inside a transformers.js model, so that generation and
 * forward passes use whichever adapter is active — without rebuilding the
 * session or merging weights.
 */
import { ConfigError } from '@tsd-peft/core';
import { adapterFeedArrays, toHalfBits, type AdapterFeedArrays } from './adapter-feeds.js';
import type { AdapterUpdates } from './patch.js';
import type { RuntimeAdapterManifest } from './runtime-adapters.js';

/** The part of an onnxruntime `InferenceSession` the switcher uses. */
export interface RunnableSession {
  readonly inputNames: readonly string[];
  run(feeds: Record<string, unknown>, ...rest: unknown[]): Promise<Record<string, unknown>>;
}

/** A transformers.js model (`PreTrainedModel`): its ONNX sessions by role. */
export interface SessionHost {
  readonly sessions: Record<string, unknown>;
}

/**
 * Makes a tensor of the session's runtime from float32 values; `type` is
 * `'float16'` for slots of fp16 graphs (the factory converts). By default the
 * constructor of the run's own feeds is used, with float16 data as bit patterns.
 */
export type TensorFactory = (data: Float32Array, dims: readonly number[], type: 'float32' | 'float16') => unknown;

/** Options of {@link createAdapterSwitcher}. */
export interface AdapterSwitcherOptions {
  /** Builds input tensors (e.g. `(d, dims) => new ort.Tensor('float32', d, dims)`). */
  readonly createTensor?: TensorFactory;
}

/** Switches the adapter that a rewritten session runs with. */
export interface AdapterSwitcher {
  /**
   * Precomputes the feeds of an adapter (module → LoRA factors, or a loaded PEFT
   * adapter's `{ modules }`): scaling·Aᵀ and Bᵀ per module (a LoRA-Dash term
   * as extra rank). Modules must be slots of the manifest with the slot's
   * shape (typed errors otherwise, see `adapterFeedArrays`); slots the
   * adapter does not cover get rank 0.
   */
  register(name: string, adapter: AdapterUpdates | { readonly modules: AdapterUpdates }): void;
  /** Activates a registered adapter, or `null` for the base model (every slot rank 0). */
  use(name: string | null): void;
  /** The active adapter's name, or null. */
  readonly active: string | null;
  /** The adapter feeds that the next run will add, as float32 arrays with dims. */
  currentFeeds(): ReadonlyMap<string, { data: Float32Array; dims: readonly number[] }>;
  /** Restores the wrapped sessions' own `run` and `inputNames`. */
  detach(): void;
}

type FeedArrays = AdapterFeedArrays;

function isRunnable(x: unknown): x is RunnableSession {
  return typeof x === 'object' && x !== null && typeof (x as { run?: unknown }).run === 'function' && Array.isArray((x as { inputNames?: unknown }).inputNames);
}

/**
 * Wraps the sessions of `target` — a transformers.js model (its `sessions`
 * whose inputs include the manifest's) or an onnxruntime session — so that:
 * `inputNames` hides the adapter inputs (transformers.js then builds and
 * validates its usual feeds), and `run` adds the active adapter's tensors.
 * Tensors are built once per adapter and reused across runs. Call `detach()`
 * to undo. Starts with no adapter (rank 0 everywhere).
 */
export function createAdapterSwitcher(target: SessionHost | RunnableSession, manifest: RuntimeAdapterManifest, options: AdapterSwitcherOptions = {}): AdapterSwitcher {
  const adapterInputs = new Set<string>(manifest.slots.flatMap((s) => [s.inputA, s.inputB]));
  const candidates = isRunnable(target) ? [target] : Object.values(target.sessions).filter(isRunnable);
  const sessions = candidates.filter((s) => s.inputNames.some((n) => adapterInputs.has(n)));
  if (sessions.length === 0) {
    throw new ConfigError(
      'no session has the runtime adapter inputs; load the rewritten model (rewriteForRuntimeAdapters), or build the pipeline with adapterPipeline(task, model), which rewrites it for you',
    );
  }
  for (const s of sessions) {
    const missing = [...adapterInputs].filter((n) => !s.inputNames.includes(n));
    if (missing.length > 0) throw new ConfigError(`session lacks runtime adapter inputs of the manifest: ${missing.slice(0, 3).join(', ')}…`);
  }
  const registered = new Map<string, FeedArrays>();
  const noAdapter = adapterFeedArrays(manifest, null, { adapterName: 'none' });
  let active: string | null = null;
  let current = noAdapter;
  const tensorCache = new WeakMap<FeedArrays, Map<unknown, Record<string, unknown>>>();

  function tensorsFor(arrays: FeedArrays, feeds: Record<string, unknown>): Record<string, unknown> {
    let byFactory = tensorCache.get(arrays);
    if (byFactory === undefined) {
      byFactory = new Map();
      tensorCache.set(arrays, byFactory);
    }
    const sample = Object.values(feeds)[0] as { constructor?: unknown } | undefined;
    const key = options.createTensor ?? sample?.constructor;
    let made = byFactory.get(key);
    if (made === undefined) {
      const create: TensorFactory =
        options.createTensor ??
        ((data, dims, type) => {
          const Ctor = sample?.constructor as (new (type: string, data: Float32Array | Uint16Array, dims: readonly number[]) => unknown) | undefined;
          if (Ctor === undefined) throw new ConfigError('cannot infer the tensor type: pass createTensor');
          return type === 'float16' ? new Ctor('float16', toHalfBits(data), dims) : new Ctor('float32', data, dims);
        });
      made = Object.fromEntries([...arrays].map(([name, a]) => [name, create(a.data, a.dims, a.type)]));
      byFactory.set(key, made);
    }
    return made;
  }

  const restores: Array<() => void> = [];
  for (const s of sessions) {
    const visible = s.inputNames.filter((n) => !adapterInputs.has(n));
    const originalRun = s.run;
    const ownInputNames = Object.getOwnPropertyDescriptor(s, 'inputNames');
    const ownRun = Object.getOwnPropertyDescriptor(s, 'run');
    Object.defineProperty(s, 'inputNames', { configurable: true, get: () => visible });
    Object.defineProperty(s, 'run', {
      configurable: true,
      writable: true,
      // Feeds given explicitly by the caller win over the active adapter's.
      value: (feeds: Record<string, unknown>, ...rest: unknown[]) => originalRun.call(s, { ...tensorsFor(current, feeds), ...feeds }, ...rest),
    });
    restores.push(() => {
      if (ownInputNames === undefined) delete (s as { inputNames?: unknown }).inputNames;
      else Object.defineProperty(s, 'inputNames', ownInputNames);
      if (ownRun === undefined) delete (s as { run?: unknown }).run;
      else Object.defineProperty(s, 'run', ownRun);
    });
  }

  return {
    register(name, adapter) {
      const modules = adapter instanceof Map ? (adapter as AdapterUpdates) : (adapter as { modules: AdapterUpdates }).modules;
      registered.set(name, adapterFeedArrays(manifest, modules, { adapterName: name }));
    },
    use(name) {
      if (name === null) {
        active = null;
        current = noAdapter;
        return;
      }
      const feeds = registered.get(name);
      if (feeds === undefined) throw new ConfigError(`no adapter registered as "${name}" (registered: ${[...registered.keys()].join(', ') || 'none'})`);
      active = name;
      current = feeds;
    },
    get active() {
      return active;
    },
    currentFeeds() {
      return current;
    },
    detach() {
      for (const r of restores.splice(0)) r();
    },
  };
}
