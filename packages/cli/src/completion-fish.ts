import { type CompletionCommand, oneLine } from './completion-tree';

/** Text as one single-quoted fish word (fish escapes \\ and ' inside single quotes). */
function fishQuote(text: string): string {
  return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/**
 * The fish completion script: fish's own `complete` entries, each active at one command path
 * (found by a function that reads the command line as the other shells' scripts do).
 */
export function fishCompletion(tree: readonly CompletionCommand[]): string {
  const cases = (pick: (c: CompletionCommand) => string[]) =>
    tree
      .filter((c) => pick(c).length > 0)
      .map(
        (c) =>
          `        case ${fishQuote(c.path.join(' '))}\n            printf '%s\\n' ${pick(c).map(fishQuote).join(' ')}`,
      )
      .join('\n');
  const entries = tree.flatMap((c) => {
    const when = `-n ${fishQuote(`__meshguard_at ${fishQuote(c.path.join(' '))}`)}`;
    const lines: string[] = [];
    // Files only where the command takes them (not after `meshguard audit`, say).
    if (!c.takesFiles) lines.push(`complete -c meshguard ${when} -f`);
    for (const s of c.subcommands)
      lines.push(
        `complete -c meshguard ${when} -a ${fishQuote(s.name)} -d ${fishQuote(oneLine(s.description))}`,
      );
    if (c.argumentChoices.length > 0)
      lines.push(`complete -c meshguard ${when} -a ${fishQuote(c.argumentChoices.join(' '))}`);
    for (const o of c.options) {
      const names = o.names.map((n) => (n.startsWith('--') ? `-l ${n.slice(2)}` : `-s ${n.slice(1)}`));
      const value = !o.takesValue
        ? ''
        : o.choices.length > 0
          ? ` -x -a ${fishQuote(o.choices.join(' '))}`
          : ' -r';
      lines.push(
        `complete -c meshguard ${when} ${names.join(' ')}${value} -d ${fishQuote(oneLine(o.description))}`,
      );
    }
    return lines;
  });
  return `# fish completion for meshguard, from \`meshguard completion fish\` (run it again after an upgrade).
# Save it where fish finds it:  meshguard completion fish > ~/.config/fish/completions/meshguard.fish

# The commands under a command path, and its options that take a value.
function __meshguard_commands -a at
    switch "$at"
${cases((c) => c.subcommands.map((s) => s.name))}
    end
end

function __meshguard_values -a at
    switch "$at"
${cases((c) => c.options.filter((o) => o.takesValue).flatMap((o) => o.names))}
    end
end

# Whether the command line so far names the command at path $want; an option's value is not a command.
function __meshguard_at -a want
    set -l words (commandline -opc)
    set -e words[1]
    set -l mg_path
    set -l skip 0
    for word in $words
        if test $skip -eq 1
            set skip 0
            continue
        end
        set -l at (string join ' ' -- $mg_path)
        switch $word
            case '-*=*'
            case '-*'
                contains -- $word (__meshguard_values "$at"); and set skip 1
            case '*'
                contains -- $word (__meshguard_commands "$at"); and set -a mg_path $word
        end
    end
    set -l joined (string join ' ' -- $mg_path)
    test "$joined" = "$want"
end

complete -c meshguard -e
${entries.join('\n')}
`;
}
