// Where the CLI writes, and the error kinds main() turns into exit codes.
import type { FootprintSizes } from '../lib/footprint';

/** Output sinks (and test hooks) for main(). */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  /** Sizes for the footprint; default: the addon's constants. */
  footprintSizes?: FootprintSizes;
}

/** A command line that cannot be acted on (exit code 2); the message names the flag. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit code of a usage or configuration error. */
export const EXIT_USAGE = 2;

/** The real stdout and stderr. */
export function processIO(): CliIO {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
  };
}
