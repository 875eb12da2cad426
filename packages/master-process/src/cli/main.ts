import { createRequire } from 'node:module';
import { EXIT, UsageError } from './exit-codes.js';

const version = String(createRequire(import.meta.url)('../package.json').version);

export const HELP = `master-process ${version}: zero-downtime reloads for Node.js cluster services

  master-process start [options] <app.js> [args...]   run an app under a master, in the foreground
  master-process reload [--timeout 10m] [--json]       reload the running master and wait for the outcome
  master-process status [--json]                       its workers, the reload in progress, the last one
  master-process stop [--timeout 10m] [--json]         graceful stop; waits until the master has exited

Which master: --socket <path>, or --name <name> (as given to \`start --name\`), or the one started in
this working directory. \`master-process <command> --help\` lists a command's options.

Exit codes:
  0  reload: the new generation serves and the old one has drained; status, stop: done
  1  reload: failed and rolled back, the old generation still serves; stop: the master exited non-zero
  2  a bad command, option, option value or config file
  3  no master running (nothing at the socket, or a stale socket left by a killed master)
  4  permission denied (the socket belongs to another user)
  5  the master is stopping
  6  no outcome within --timeout (the operation goes on in the master)
  7  the socket answered, but not as a master of this version, or the master could not run the request
  8  the connection was lost before the outcome: it is unknown
`;

// Loaded on demand: \`reload\` and \`status\` need only the control client, not every plugin that \`start\` runs.
const COMMANDS: Record<string, (args: string[]) => Promise<number | undefined>> = {
  start: async (args) => (await import('./start.js')).start(args),
  reload: async (args) => (await import('./reload.js')).reload(args),
  status: async (args) => (await import('./status.js')).status(args),
  stop: async (args) => (await import('./stop.js')).stop(args),
};

/** Runs a command; resolves with its exit code, or undefined for `start` (the master exits the process itself). */
export async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version}\n`);
    return EXIT.OK;
  }
  const entry = COMMANDS[command];
  try {
    if (!entry) throw new UsageError(`unknown command ${JSON.stringify(command)}. Accepted: ${Object.keys(COMMANDS).join(', ')} (master-process --help).`);
    return await entry(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`master-process: ${error.message}\n`);
    return EXIT.USAGE;
  }
}
