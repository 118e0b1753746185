import { debuglog } from 'node:util'

/** Logs under `NODE_DEBUG=wanfed`. Costs one boolean check when disabled. */
export const debug = debuglog('wanfed')
