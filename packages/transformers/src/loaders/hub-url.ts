/**
 * Hub ids and URLs as transformers.js forms them (browser-safe: no Node
 * built-ins), shared by the Node hub client and the browser loaders.
 */
import { env } from '@huggingface/transformers';

export { isHubModelId } from './hub-id.js';

/** The URL of `file` in hub repo `repoId` at `revision`, from transformers.js's `env.remoteHost` and `env.remotePathTemplate`. */
export function remoteUrl(repoId: string, revision: string, file: string): string {
  const path = env.remotePathTemplate.replaceAll('{model}', repoId).replaceAll('{revision}', encodeURIComponent(revision));
  return [env.remoteHost.replace(/\/$/, ''), path.replace(/^\//, '').replace(/\/$/, ''), file].join('/');
}
