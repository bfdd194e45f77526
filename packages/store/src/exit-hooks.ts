type ExitEvent = 'beforeExit' | 'exit';

const hooks: Record<ExitEvent, Set<() => void>> = { beforeExit: new Set(), exit: new Set() };
let installed = false;

/**
 * Runs `hook` when the process is about to exit (`beforeExit`: the event loop is empty) or exits.
 * One process listener for each event, however many journals are open: a listener per journal
 * would warn past ten (MaxListenersExceededWarning) in a process that opens many stores.
 */
export function addExitHook(hook: () => void, event: ExitEvent): void {
  if (!installed) {
    installed = true;
    process.on('beforeExit', () => {
      for (const h of [...hooks.beforeExit]) h();
    });
    process.on('exit', () => {
      for (const h of [...hooks.exit]) h();
    });
  }
  hooks[event].add(hook);
}

export function deleteExitHook(hook: () => void, event: ExitEvent): void {
  hooks[event].delete(hook);
}
