/**
 * @tessera-auth/resource-server: protect an API or an MCP server with OAuth 2.0 access tokens.
 * Framework adapters: `@tessera-auth/resource-server/koa` and `@tessera-auth/resource-server/express`.
 */
export type { Answer } from './challenge.js';
export { accessTokenHash, DPOP_ALGS } from './dpop.js';
export { type Refusal, RequestRefused } from './errors.js';
export type { DpopOptions, IntrospectionOptions, JwksOptions, ResourceServerOptions } from './options.js';
export { MemoryReplayCache, type ReplayCache, ReplayCacheFull } from './replay.js';
export {
  createResourceServer,
  type KitRequest,
  type ProtectedResourceMetadata,
  type ResourceServer,
} from './resource.js';
export type { AccessClaims } from './tokens.js';
