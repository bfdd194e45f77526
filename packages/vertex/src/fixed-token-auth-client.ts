/** What both SDKs' google-auth-library versions ask of a client they did not make. */
export interface FixedTokenAuthClient {
  getAccessToken(): Promise<{ token: string; res: null }>;
  getRequestHeaders(): Promise<Headers>;
  credentials: { access_token: string };
  getProjectId(): Promise<string>;
}

/**
 * An auth client that always answers with the same bearer token, for `googleAuthOptions: {
 * authClient }` of both SDKs against the emulator: `@google/genai` asks google-auth-library v10
 * for request headers (a `Headers` object), `@google-cloud/vertexai` (v9) for an access token.
 * It is duck-typed (this package has no google-auth-library types), so pass it `as never`.
 *
 * @example
 * new GoogleGenAI({ vertexai: true, project: 'demo', location: 'us-central1',
 *   googleAuthOptions: { authClient: fixedTokenAuthClient() as never }, httpOptions: { baseUrl: emulator.url } });
 */
export function fixedTokenAuthClient(token = 'emulator-token'): FixedTokenAuthClient {
  return {
    getAccessToken: async () => ({ token, res: null }),
    getRequestHeaders: async () => new Headers({ authorization: `Bearer ${token}` }),
    credentials: { access_token: token },
    getProjectId: async () => 'emulated-project',
  };
}
