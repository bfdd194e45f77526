// Installed-from-tarball check, as CommonJS: every module loaded with require, then the shared run.
// Usage: node bedrock.cjs <sqlite path> <trace id>
const smoke = require('./bedrock.body.cjs');

const modules = {
  core: require('@meshguard/core'),
  adapter: require('@meshguard/bedrock'),
  store: require('@meshguard/store'),
  sdk: require('@aws-sdk/client-bedrock-agent-runtime'),
  testing: require('@meshguard/bedrock/testing'),
};
smoke(modules, 'cjs').catch((error) => {
  console.error(error);
  process.exit(1);
});
