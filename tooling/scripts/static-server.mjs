// A static file server for the browser tests and the demo: URL prefixes mapped
// to folders, 127.0.0.1 only, no directory listings, no path escapes.
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
};

/**
 * Serves `roots` ([urlPrefix, folder] pairs, first match wins; `/` serves
 * index.html for itself). Resolves to { url, requests, close() }; `requests`
 * lists the paths asked for (404s included). Port 0 picks a free one.
 */
export function serveFolders(roots, { port = 0 } = {}) {
  const requests = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
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
      ok({ url: `http://127.0.0.1:${p}/`, requests, close: () => new Promise((done) => server.close(() => done())) });
    }),
  );
}
