#!/usr/bin/env node
import { applyHubEnvironment } from './cli/cli-messages.js';
import { main } from './cli/main.js';

applyHubEnvironment();
process.exitCode = await main(process.argv.slice(2));
