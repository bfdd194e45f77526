// Installed-from-tarball check, as CommonJS: every module loaded with require, then the shared run.
// Usage: node vertex.cjs <sqlite path> <trace id>
const smoke = require('./vertex.body.cjs');

const modules = {
  core: require('@meshguard/core'),
  adapter: require('@meshguard/vertex'),
  store: require('@meshguard/store'),
  sdk: require('@google/genai'),
  testing: require('@meshguard/vertex/testing'),
};
smoke(modules, 'cjs').catch((error) => {
  console.error(error);
  process.exit(1);
});
