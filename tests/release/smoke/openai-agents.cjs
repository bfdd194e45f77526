// Installed-from-tarball check, as CommonJS: every module loaded with require, then the shared run.
// Usage: node openai-agents.cjs <sqlite path> <trace id>
const smoke = require('./openai-agents.body.cjs');

const modules = {
  core: require('@meshguard/core'),
  adapter: require('@meshguard/openai-agents'),
  store: require('@meshguard/store'),
  sdk: require('@openai/agents'),
  testing: require('@openai/agents/testing'),
  zod: require('zod'),
};
smoke(modules, 'cjs').catch((error) => {
  console.error(error);
  process.exit(1);
});
