// Installed-from-tarball check, as ESM: every module loaded with import, then the shared run.
// Usage: node openai-agents.mjs <sqlite path> <trace id>
import * as core from '@meshguard/core';
import * as adapter from '@meshguard/openai-agents';
import * as store from '@meshguard/store';
import * as sdk from '@openai/agents';
import * as testing from '@openai/agents/testing';
import * as zod from 'zod';
import smoke from './openai-agents.body.cjs';

await smoke({ core, adapter, store, sdk, testing, zod }, 'esm');
