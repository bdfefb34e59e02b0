/**
 * A loopback mirror with the hub's URL layout (`/<owner>/<name>/resolve/main/<file>`),
 * serving local folders as repos, for tests of hub-id loading without the network.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A running mirror: its base URL (for `env.remoteHost`), the requests it answered, and how to stop it. */
export interface HubMirror {
  readonly host: string;
  /** Every request answered: `<status> <path>`; tests may clear it. */
  log: string[];
  close(): Promise<void>;
}

/** Starts a mirror serving `roots` (repo id → folder). */
export async function startHubMirror(roots: Readonly<Record<string, string>>): Promise<HubMirror> {
  const mirror = { host: '', log: [] as string[], close: async (): Promise<void> => {} };
  const server = createServer((req, res) => {
    const m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(decodeURIComponent(req.url ?? ''));
    const root = m === null ? undefined : roots[m[1]!];
    const file = m === null || root === undefined ? null : join(root, m[2]!);
    if (file === null || m![2]!.includes('..') || !existsSync(file) || !statSync(file).isFile()) {
      mirror.log.push(`404 ${req.url}`);
      res.writeHead(404).end('Entry not found');
      return;
    }
    mirror.log.push(`200 ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  mirror.host = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  mirror.close = () => new Promise<void>((ok) => server.close(() => ok()));
  return mirror;
}
