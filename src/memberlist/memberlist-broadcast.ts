import type { Broadcast } from './transmit-limited-queue.ts'

/** A broadcast of memberlist's own (alive, suspect, dead): named by the node it is about, so a newer one replaces it. */
export class MemberlistBroadcast implements Broadcast {
  constructor(
    readonly name: string,
    readonly msg: Buffer,
    readonly notify?: () => void,
  ) {}

  invalidates(other: Broadcast): boolean {
    return other instanceof MemberlistBroadcast && other.name === this.name
  }

  message(): Uint8Array {
    return this.msg
  }

  finished(): void {
    this.notify?.()
  }
}
