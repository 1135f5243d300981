import type { GrantType } from '../stores/types.js';
import type { GrantHandler } from './types.js';

/** The token endpoint dispatches on this map; unknown names are unsupported_grant_type. */
export type GrantRegistry = ReadonlyMap<string, GrantHandler>;

export function grantRegistry(handlers: GrantHandler[]): GrantRegistry {
  return new Map(handlers.map((h) => [h.grantType, h]));
}

export const supportedGrantTypes = (registry: GrantRegistry) => [...registry.keys()] as GrantType[];
