/**
 * The `wanfed` command table. To add a subcommand, add an entry here: a {@link Command} (with a
 * `run(argv, io)` returning the exit code) or a {@link CommandGroup} of them. `main()` walks this
 * table with the leading words of the command line, so `wanfed cert create --ca` runs
 * `commands.cert.commands.create` with `['--ca']`, and help lists are rendered from it.
 */

import { certCreateCommand } from './cert-create.ts'
import { gatewayCommand } from './gateway.ts'
import type { CommandGroup } from './types.ts'

export const commands: CommandGroup = {
  summary: 'WAN federation through mesh gateways, wire-compatible with Consul',
  commands: {
    cert: {
      summary: 'Create CAs and certificates for WAN federation (as consul tls)',
      commands: {
        create: certCreateCommand,
      },
    },
    gateway: gatewayCommand,
  },
}
