import type { Command } from 'commander';

// What a shell needs to complete `meshguard`, read from the program itself (every command,
// option and choice as commander holds them), so a completion script cannot drift from the CLI.

interface CompletionOption {
  /** `-f` and `--follow`, as the user types them. */
  names: string[];
  description: string;
  /** Whether it takes a value (`--db <url>`): the next word is that value, not a command. */
  takesValue: boolean;
  /** The values it accepts, when it names them (`--format jsonl|csv`); otherwise files are offered. */
  choices: string[];
}

export interface CompletionCommand {
  /** The command words after `meshguard`: `[]` for the program, `['audit', 'query']`. */
  path: string[];
  subcommands: Array<{ name: string; description: string }>;
  options: CompletionOption[];
  /** The choices of its first argument (`completion <shell>`), if it names them. */
  argumentChoices: string[];
  /** Whether it takes arguments with no choices (files, ids): the shell offers file names. */
  takesFiles: boolean;
}

/** Every command of the program, the program first, each parent before its subcommands. */
export function completionTree(program: Command): CompletionCommand[] {
  const commands: CompletionCommand[] = [];
  const visit = (command: Command, path: string[]) => {
    const help = command.createHelp();
    const subcommands = help.visibleCommands(command);
    const [first] = command.registeredArguments;
    commands.push({
      path,
      subcommands: subcommands.map((c) => ({ name: c.name(), description: c.description() })),
      options: help.visibleOptions(command).map((option) => ({
        names: [option.short, option.long].filter((name): name is string => Boolean(name)),
        description: option.description,
        takesValue: option.required || option.optional,
        choices: option.argChoices ?? [],
      })),
      argumentChoices: first?.argChoices ?? [],
      takesFiles: first !== undefined && !first.argChoices,
    });
    for (const sub of subcommands) {
      // commander's own `help [command]`: completes the names of its sibling commands.
      if (!command.commands.includes(sub)) {
        const siblings = subcommands.filter((c) => c !== sub).map((c) => c.name());
        commands.push({
          path: [...path, sub.name()],
          subcommands: [],
          options: [],
          argumentChoices: siblings,
          takesFiles: false,
        });
      } else visit(sub, [...path, sub.name()]);
    }
  };
  visit(program, []);
  return commands;
}

/** Text as one single-quoted word for bash and zsh: `it's` becomes `'it'\''s'`. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** A description on one line (completion menus show one line each). */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
