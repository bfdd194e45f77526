import { type CompletionCommand, oneLine, shellQuote } from './completion-tree';

/** `name:description` as one quoted word of a zsh array, for `_describe` (a colon in a name escaped). */
function described(name: string, description: string): string {
  return shellQuote(`${name.replaceAll(':', '\\:')}:${oneLine(description)}`);
}

/**
 * The zsh completion script: commands and options with their descriptions, choices where an
 * option or argument names them, file names elsewhere; everything written in, so a TAB runs no
 * Node. Works from `fpath` (as `_meshguard`) or sourced after `compinit`.
 */
export function zshCompletion(tree: readonly CompletionCommand[]): string {
  const at = tree.map((c) => {
    const list = (items: string[]) => `(${items.join(' ')})`;
    const values = c.options.filter((o) => o.takesValue).flatMap((o) => o.names);
    return [
      `    ${shellQuote(c.path.join(' '))})`,
      `      mg_cmds=${list(c.subcommands.map((s) => described(s.name, s.description)))}`,
      `      mg_opts=${list(c.options.flatMap((o) => o.names.map((n) => described(n, o.description))))}`,
      `      mg_vals=${list(values.map(shellQuote))}`,
      `      mg_args=${list(c.argumentChoices.map(shellQuote))}`,
      `      mg_files=${c.takesFiles ? 1 : 0} ;;`,
    ].join('\n');
  });
  const choices = tree.flatMap((c) =>
    c.options
      .filter((o) => o.choices.length > 0)
      .flatMap((o) =>
        o.names.map(
          (name) =>
            `    ${shellQuote(`${c.path.join(' ')} ${name}`)}) mg_choices=(${o.choices.map(shellQuote).join(' ')}) ;;`,
        ),
      ),
  );
  return `#compdef meshguard
# zsh completion for meshguard, from \`meshguard completion zsh\` (run it again after an upgrade).
# Save it as _meshguard in a folder of $fpath, or in ~/.zshrc after compinit:
#   source <(meshguard completion zsh)

# What the command at path $1 takes: subcommands and options (name:description), options that
# take a value, the choices of its argument, and whether its arguments are files.
__meshguard_at() {
  mg_cmds=() mg_opts=() mg_vals=() mg_args=() mg_files=0
  case "$1" in
${at.join('\n')}
  esac
}

# The values option $2 of the command at path $1 accepts, if it names them.
__meshguard_choices() {
  mg_choices=()
  case "$1 $2" in
${choices.join('\n')}
  esac
}

_meshguard() {
  local cur="\${words[CURRENT]}" mg_path='' word i skip=0 mg_files
  local -a mg_cmds mg_names mg_opts mg_vals mg_args mg_choices
  # Which command the words so far name; an option's value is not a command.
  for ((i = 2; i < CURRENT; i++)); do
    word="\${words[i]}"
    if ((skip)); then
      skip=0
      continue
    fi
    __meshguard_at "$mg_path"
    case "$word" in
      -*=*) ;;
      -*) ((\${mg_vals[(Ie)$word]})) && skip=1 ;;
      *)
        mg_names=(\${mg_cmds%%:*})
        ((\${mg_names[(Ie)$word]})) && mg_path="\${mg_path:+$mg_path }$word" ;;
    esac
  done
  __meshguard_at "$mg_path"
  if ((skip)); then
    __meshguard_choices "$mg_path" "\${words[CURRENT-1]}"
    if ((\${#mg_choices})); then compadd -a mg_choices; else _files; fi
    return
  fi
  if [[ $cur == -* ]]; then
    _describe -t options option mg_opts
  elif ((\${#mg_cmds})); then
    _describe -t commands command mg_cmds
  elif ((\${#mg_args})); then
    compadd -a mg_args
  elif ((mg_files)); then
    _files
  else
    _describe -t options option mg_opts
  fi
}

if [[ "\${funcstack[1]}" == _meshguard ]]; then
  _meshguard "$@"
else
  compdef _meshguard meshguard
fi
`;
}
