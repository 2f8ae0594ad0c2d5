/**
 * The WireGuard cross-platform configuration protocol (wireguard.com/xplatform),
 * byte-compatible with wireguard-go's device/uapi.go, without any IO:
 * serializeGet (device view -> `get=1` response), parseSet (`set=1` body ->
 * UapiSetRequest), UapiConnection (a byte stream -> responses), and the
 * client-side helpers parseGetResponse / serializeSet used by `wgts show/set`.
 */
export type * from './types.js';
export * from './errno.js';
export { serializeGet, formatEndpoint, formatPrefix } from './get.js';
export { parseSet, SetParser, type ParseSetResult, type SetError } from './set.js';
export { UapiConnection, UAPI_MAX_LINE, UAPI_DEFAULT_MAX_REQUEST, type UapiConnectionOptions } from './connection.js';
export { parseGetResponse, serializeSet, type ParseGetResult } from './client-codec.js';
