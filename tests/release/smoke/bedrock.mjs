// Installed-from-tarball check, as ESM: every module loaded with import, then the shared run.
// Usage: node bedrock.mjs <sqlite path> <trace id>
import * as sdk from '@aws-sdk/client-bedrock-agent-runtime';
import * as adapter from '@meshguard/bedrock';
import * as testing from '@meshguard/bedrock/testing';
import * as core from '@meshguard/core';
import * as store from '@meshguard/store';
import smoke from './bedrock.body.cjs';

await smoke({ core, adapter, store, sdk, testing }, 'esm');
