/** Types of serve.mjs for TypeScript callers (the test suite). */
export interface BrowserAppOptions {
  issuer: string;
  clientId: string;
  port?: number;
  host?: string;
  scope?: string;
}
export declare function startBrowserApp(options: BrowserAppOptions): Promise<{ url: string; close(): Promise<void> }>;
