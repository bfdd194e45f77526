// Installed-from-tarball check, as ESM: every module loaded with import, then the shared run.
// Usage: node vertex.mjs <sqlite path> <trace id>
import * as sdk from '@google/genai';
import * as core from '@meshguard/core';
import * as store from '@meshguard/store';
import * as adapter from '@meshguard/vertex';
import * as testing from '@meshguard/vertex/testing';
import smoke from './vertex.body.cjs';

await smoke({ core, adapter, store, sdk, testing }, 'esm');
