/** A certificate authority and a server certificate it signed, in PEM. */
export interface EmulatorCertificate {
  /** The CA certificate to trust (`NODE_EXTRA_CA_CERTS`, or a fetch dispatcher's `ca`). */
  ca: string;
  /** The server certificate (for `localhost`, `127.0.0.1` and `::1`) and its private key. */
  cert: string;
  key: string;
}

/**
 * Generates a throwaway CA and a server certificate for `localhost` signed by it, so
 * `@google-cloud/vertexai` (which only speaks https) can reach the emulator. Write `ca` to a
 * file and start the client's process with `NODE_EXTRA_CA_CERTS` pointing at it.
 *
 * @example
 * const certificate = await createEmulatorCertificate();
 * writeFileSync('emulator-ca.pem', certificate.ca);
 * const emulator = await startVertexEmulator({ script, tls: certificate });
 */
export async function createEmulatorCertificate(): Promise<EmulatorCertificate> {
  // selfsigned (on @peculiar/x509) rather than hand-built X.509: loaded only when TLS is asked for.
  const { generate } = await import('selfsigned');
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(Date.now() + 30 * 86_400_000);
  const ca = await generate([{ name: 'commonName', value: 'MeshGuard Vertex emulator CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { ca: ca.cert, cert: server.cert, key: server.private };
}
