// `@meshguard/gateway/internal`: what only MeshGuard's CLI uses (no semver promise).
export { rotateSigningKeyFile } from './gateway-keys';
export { readPolicyDir } from './gateway-policies';
