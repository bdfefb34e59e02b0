import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { env } from '@huggingface/transformers';
import { HubError } from '@tsd-peft/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hubSource } from '../loaders/hub.js';
import { applyHubEnvironment, cliErrorMessage } from './cli-messages.js';
import { runCli } from './cli-test-io.test-helper.js';

const saved = { allowRemoteModels: env.allowRemoteModels, remoteHost: env.remoteHost };
let server: Server;
let mirror: string;

beforeAll(async () => {
  // A loopback "hub" that refuses everything: 401 for gated files.
  server = createServer((_req, res) => res.writeHead(401).end());
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  mirror = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterEach(() => Object.assign(env, saved));
afterAll(async () => new Promise<void>((done) => server.close(() => done())));

/** A loopback port with nothing listening: connections are refused at once. */
async function closedPort(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((done) => probe.close(() => done()));
  return `http://127.0.0.1:${port}/`;
}

describe('CLI hub errors', () => {
  it('unreachable hub: names the id and says to pass a local folder or set HF_ENDPOINT, never env.allowRemoteModels', async () => {
    applyHubEnvironment({ HF_ENDPOINT: await closedPort() });
    const run = await runCli(['inspect', 'someone/tiny-llama']);
    expect(run.status).toBe(2);
    expect(run.err).toMatch(/^tsd-peft inspect: could not download someone\/tiny-llama: http:\/\/127\.0\.0\.1:\d+\/ is unreachable/);
    expect(run.err).toContain('pass the path of a local copy');
    expect(run.err).toContain('HF_ENDPOINT');
    expect(run.err).not.toContain('env.');
    expect(run.err.trim().split('\n')).toHaveLength(1);
  });

  it('HF_HUB_OFFLINE=1: says the model is not cached and how to proceed', async () => {
    applyHubEnvironment({ HF_HUB_OFFLINE: '1' });
    expect(env.allowRemoteModels).toBe(false);
    const run = await runCli(['inspect', 'someone/tiny-llama']);
    expect(run.status).toBe(2);
    expect(run.err).toContain('someone/tiny-llama is not in the download cache');
    expect(run.err).toContain('unset HF_HUB_OFFLINE');
    expect(run.err).not.toContain('env.');
  });

  it('gated repo (HTTP 401 from the hub): says to set HF_TOKEN', async () => {
    applyHubEnvironment({ HF_ENDPOINT: mirror });
    let caught: unknown;
    try {
      await hubSource('someone/gated').read('model.safetensors');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HubError);
    expect((caught as HubError).failure).toBe('http');
    expect((caught as HubError).status).toBe(401);
    expect(cliErrorMessage(caught)).toMatch(/^someone\/gated is gated or private \(HTTP 401\): .* set HF_TOKEN/);
  });

  it('passes other errors through as their message', () => {
    expect(cliErrorMessage(new Error('plain'))).toBe('plain');
    expect(cliErrorMessage('text')).toBe('text');
  });
});
