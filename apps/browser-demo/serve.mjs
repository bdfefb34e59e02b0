// A static server for the built page: dist/ at /, a Hugging Face model folder
// at /model/. `node serve.mjs [modelDir] [port]`, or import { serveDemo }.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveFolders } from '../../tooling/scripts/static-server.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** Starts the server; resolves to { url, close() }. Port 0 picks a free one. */
export function serveDemo({ dist = join(here, 'dist'), model, port = 0 } = {}) {
  return serveFolders(
    [
      ['/model/', model],
      ['/', dist],
    ],
    { port },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fixtures = process.env.TSD_FIXTURES ?? resolve(here, '../../../shared');
  const model = process.argv[2] ?? join(fixtures, 'reference/hf/stories260K');
  const { url } = await serveDemo({ model, port: Number(process.argv[3] ?? 8080) });
  console.log(`demo at ${url} (model from ${model})`);
}
