/**
 * memberlist's message type byte, numbered as `net.go` numbers them (the values are protocol).
 */
export const MessageType = {
  ping: 0,
  indirectPing: 1,
  ackResp: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nackResp: 11,
  hasCrc: 12,
  err: 13,
  /** Deliberately far from the others and from the encryption version bytes (0 and 1). */
  hasLabel: 244,
} as const

export type MessageTypeName = keyof typeof MessageType
export type MessageTypeValue = (typeof MessageType)[MessageTypeName]

/** The protocol versions this implementation understands and speaks, as memberlist's. */
export const PROTOCOL_VERSION_MIN = 1
/** memberlist's `ProtocolVersion2Compatible`: the default it speaks. */
export const PROTOCOL_VERSION_2_COMPATIBLE = 2
export const PROTOCOL_VERSION_MAX = 5

/** Largest node meta a delegate may return (`MetaMaxSize`). */
export const META_MAX_SIZE = 512
/** Largest push/pull state or encrypted stream message accepted off the wire (`maxPushStateBytes`). */
export const MAX_PUSH_STATE_BYTES = 20 * 1024 * 1024
/** Largest node count in a push/pull header (`maxPushStateNodes`). */
export const MAX_PUSH_STATE_NODES = 1024 * 1024
/** Largest reliable user message accepted off the wire (`maxUserMsgBytes`). */
export const MAX_USER_MSG_BYTES = 20 * 1024 * 1024
/** Largest decompressed stream body (`maxDecompressedBytes`: user state plus an equal node budget). */
export const MAX_DECOMPRESSED_BYTES = 2 * MAX_PUSH_STATE_BYTES
/** Concurrent inbound push/pulls before more are refused (`maxPushPullRequests`). */
export const MAX_PUSH_PULL_REQUESTS = 128
