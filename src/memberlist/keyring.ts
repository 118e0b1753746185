import { InvalidArgumentError } from '../errors.ts'

/**
 * The gossip encryption keys (memberlist's `Keyring`): the primary key encrypts everything sent,
 * and every installed key is tried on what arrives, so a pool rotates keys without a gap:
 * `addKey` the new key on every member, `useKey` it on every member, then `removeKey` the old one.
 * Keys are 16, 24 or 32 bytes (AES-128, -192, -256); Serf's and Consul's `-encrypt` value is
 * such a key in base64 ({@link Keyring.fromBase64}).
 *
 * ```ts
 * const keyring = Keyring.fromBase64('cg8StVXbQJ0gPvMd9o7yrg==')
 * const ml = await Memberlist.create({ ...DefaultLANConfig(), keyring, transport, name: 'n1' })
 * ```
 */
export class Keyring {
  #keys: Buffer[] = []

  /**
   * `NewKeyring`: `primaryKey` first, then `keys`. With neither, an empty keyring (encryption off
   * until a key is added).
   *
   * @throws {InvalidArgumentError} keys but no primary key, or a key of the wrong size
   */
  constructor(keys: readonly Uint8Array[] = [], primaryKey?: Uint8Array) {
    if (keys.length > 0 || (primaryKey !== undefined && primaryKey.length > 0)) {
      if (primaryKey === undefined || primaryKey.length === 0) {
        throw new InvalidArgumentError('empty primary key not allowed')
      }
      this.addKey(primaryKey)
      for (const key of keys) this.addKey(key)
    }
  }

  /**
   * A keyring from base64 keys (the form `serf agent -encrypt` and `consul keygen` use); the first
   * is primary.
   *
   * @throws {InvalidArgumentError} not base64 or a wrong size
   */
  static fromBase64(primary: string, ...others: string[]): Keyring {
    const decode = (s: string): Buffer => {
      if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
        throw new InvalidArgumentError('key is not base64')
      }
      return Buffer.from(s, 'base64')
    }
    return new Keyring(others.map(decode), decode(primary))
  }

  /** @throws {InvalidArgumentError} the key is not 16, 24 or 32 bytes */
  static validateKey(key: Uint8Array): void {
    if (
      !(key instanceof Uint8Array) ||
      (key.length !== 16 && key.length !== 24 && key.length !== 32)
    ) {
      throw new InvalidArgumentError('key size must be 16, 24 or 32 bytes')
    }
  }

  /** Installs a key (a no-op when present). The first key installed becomes primary. */
  addKey(key: Uint8Array): void {
    Keyring.validateKey(key)
    if (this.#find(key) >= 0) return
    this.#keys.push(Buffer.from(key))
  }

  /**
   * Makes an installed key the primary one.
   *
   * @throws {InvalidArgumentError} the key is not installed
   */
  useKey(key: Uint8Array): void {
    const i = this.#find(key)
    if (i < 0) throw new InvalidArgumentError('requested key is not in the keyring')
    const [k] = this.#keys.splice(i, 1)
    this.#keys.unshift(k as Buffer)
  }

  /**
   * Removes a key (a no-op when absent).
   *
   * @throws {InvalidArgumentError} it is the primary key
   */
  removeKey(key: Uint8Array): void {
    const i = this.#find(key)
    if (i === 0) throw new InvalidArgumentError('removing the primary key is not allowed')
    if (i > 0) this.#keys.splice(i, 1)
  }

  /** Installed keys, the primary first (copies). */
  getKeys(): Buffer[] {
    return this.#keys.map((k) => Buffer.from(k))
  }

  /** The key used to encrypt, or undefined when the keyring is empty. */
  getPrimaryKey(): Buffer | undefined {
    const k = this.#keys[0]
    return k === undefined ? undefined : Buffer.from(k)
  }

  /** @internal Keys without copying, for the hot path. */
  keysView(): readonly Buffer[] {
    return this.#keys
  }

  get size(): number {
    return this.#keys.length
  }

  #find(key: Uint8Array): number {
    return this.#keys.findIndex((k) => k.length === key.length && k.equals(key))
  }
}
