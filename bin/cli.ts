#!/usr/bin/env node
/** `shardlease`: see lib/cli/run-cli.ts. */
import { main } from '../lib/cli/main';

void main(process.argv.slice(2));
