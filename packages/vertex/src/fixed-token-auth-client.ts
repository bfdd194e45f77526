/**
 * An auth client that always answers with the same bearer token, for `googleAuthOptions: {
 * authClient }` of both SDKs against the emulator: `@google/genai` asks google-auth-library v10
 * for request headers (a `Headers` object), `@google-cloud/vertexai` (v9) for an access token.
 *
 * @example
 * new GoogleGenAI({ vertexai: true, project: 'demo', location: 'us-central1',
 *   googleAuthOptions: { authClient: fixedTokenAuthClient() }, httpOptions: { baseUrl: emulator.url } });
 */
export interface FixedTokenAuthClient {
  getAccessToken(): Promise<{ token: string; res: null }>;
  getRequestHeaders(): Promise<Headers>;
  credentials: { access_token: string };
  getProjectId(): Promise<string>;
}

export function fixedTokenAuthClient(token = 'emulator-token'): FixedTokenAuthClient {
  return {
    getAccessToken: async () => ({ token, res: null }),
    getRequestHeaders: async () => new Headers({ authorization: `Bearer ${token}` }),
    // google-auth-library reads these when it is handed a client it did not make.
    credentials: { access_token: token },
    getProjectId: async () => 'emulated-project',
  };
}
