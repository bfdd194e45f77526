declare const __PACKAGE_NAME__: string | undefined;
declare const __PACKAGE_VERSION__: string | undefined;

/** Stamped on every event this adapter produces (set at build time; tests run from source). */
export const PACKAGE_SOURCE = {
  name: typeof __PACKAGE_NAME__ === 'string' ? __PACKAGE_NAME__ : '@meshguard/vertex',
  version: typeof __PACKAGE_VERSION__ === 'string' ? __PACKAGE_VERSION__ : '0.0.0-dev',
};
