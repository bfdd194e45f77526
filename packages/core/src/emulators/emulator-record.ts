/**
 * What an emulator keeps of a test: the script still to play, the requests received and the
 * problems found (the client's mistakes and the script's). A well-behaved test ends with no
 * problems and no steps left.
 */
export interface EmulatorRecord<Step, Request> {
  readonly requests: Request[];
  readonly problems: string[];
  /** How many script steps are left. */
  readonly remaining: number;
  /** Takes the next script step (`undefined` once the script has run out). */
  next(): Step | undefined;
}

/**
 * Starts the record of one emulator run over a copy of `script`.
 *
 * @example
 * const record = createEmulatorRecord<Turn, Request>(options.script);
 * const turn = record.next();
 * if (!turn) record.problems.push(`request ${record.requests.length}: the script has no turn left`);
 */
export function createEmulatorRecord<Step, Request>(script: readonly Step[]): EmulatorRecord<Step, Request> {
  const steps = [...script];
  return {
    requests: [],
    problems: [],
    get remaining() {
      return steps.length;
    },
    next: () => steps.shift(),
  };
}
