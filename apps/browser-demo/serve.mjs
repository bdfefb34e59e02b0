// A static server for the built page: dist/ at /, a Hugging Face model folder
// at /model/. `node serve.mjs [modelDir] [port]`, or import { serveDemo }.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
};

/** Starts the server; resolves to { url, close() }. Port 0 picks a free one. */
export function serveDemo({ dist = join(here, 'dist'), model, port = 0 } = {}) {
  const roots = [
    ['/model/', model],
    ['/', dist],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [prefix, root] = roots.find(([p, r]) => r !== undefined && path.startsWith(p)) ?? [];
    if (root === undefined) return void res.writeHead(404).end();
    const rel = path.slice(prefix.length) || 'index.html';
    const file = normalize(join(root, rel));
    if (!file.startsWith(resolve(root) + sep) || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) =>
    server.listen(port, '127.0.0.1', () => {
      const { port: p } = server.address();
      ok({ url: `http://127.0.0.1:${p}/`, close: () => new Promise((done) => server.close(() => done())) });
    }),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fixtures = process.env.TSD_FIXTURES ?? resolve(here, '../../../shared');
  const model = process.argv[2] ?? join(fixtures, 'reference/hf/stories260K');
  const { url } = await serveDemo({ model, port: Number(process.argv[3] ?? 8080) });
  console.log(`demo at ${url} (model from ${model})`);
}
