import { env } from '@huggingface/transformers';
import { HubError } from '@tsd-peft/core';

const TRUTHY = ['1', 'true', 'yes', 'on'];

/**
 * Applies the hub variables that Hugging Face's own tools read, so a CLI user
 * steers downloads the way they already know: `HF_HUB_OFFLINE=1` turns
 * downloads off (cache and local folders only), and `HF_ENDPOINT` points at a
 * mirror. `HF_TOKEN` is read by transformers.js itself.
 */
export function applyHubEnvironment(vars: Readonly<Record<string, string | undefined>> = process.env): void {
  if (TRUTHY.includes((vars['HF_HUB_OFFLINE'] ?? '').toLowerCase())) env.allowRemoteModels = false;
  const endpoint = vars['HF_ENDPOINT'];
  if (endpoint !== undefined && endpoint !== '') env.remoteHost = endpoint.endsWith('/') ? endpoint : `${endpoint}/`;
}

/**
 * The one line a command-line user sees for `error`. Hub failures say what to
 * do in CLI terms (a local folder, `HF_HUB_OFFLINE`, `HF_ENDPOINT`,
 * `HF_TOKEN`) rather than in the API's (`env.allowRemoteModels`); anything
 * else is its own message.
 */
export function cliErrorMessage(error: unknown): string {
  if (error instanceof HubError) return hubAdvice(error);
  return error instanceof Error ? error.message : String(error);
}

function hubAdvice(error: HubError): string {
  const { repoId, failure, status } = error;
  const where = error.file === undefined ? '' : ` (${error.file})`;
  const local = `pass the path of a local copy instead of the hub id (a folder with config.json, the weights and tokenizer.json)`;
  if (failure === 'offline') {
    return `${repoId} is not in the download cache (${String(env.cacheDir)}) and downloads are off (HF_HUB_OFFLINE); ${local}, or unset HF_HUB_OFFLINE to download it${where}`;
  }
  if (failure === 'unreachable') {
    const cause = rootCause(error) === error ? '' : `: ${rootCause(error).message}`;
    return `could not download ${repoId}: ${env.remoteHost} is unreachable from this machine${cause}; ${local}, or set HF_ENDPOINT to a mirror you can reach${where}`;
  }
  if (status === 401 || status === 403) {
    return `${repoId} is gated or private (HTTP ${status}): accept its terms on the hub, then set HF_TOKEN to an access token${where}`;
  }
  if (status === 404) return `${repoId} has no such file on the hub (HTTP 404): check the id and revision, or ${local}${where}`;
  return `the hub answered HTTP ${String(status)} for ${repoId}; try again later, or ${local}${where}`;
}

/** The innermost error with a message in a `cause` chain: what actually failed (e.g. "connect ECONNREFUSED …"). */
function rootCause(error: Error): Error {
  let inner = error;
  while (inner.cause instanceof Error && inner.cause.message !== '') inner = inner.cause;
  return inner;
}
