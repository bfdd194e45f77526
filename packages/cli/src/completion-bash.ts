import { type CompletionCommand, shellQuote } from './completion-tree';

/**
 * The bash completion script: plain bash (3.2 and later, no bash-completion package needed),
 * with every command, option and choice written in, so a TAB runs no Node. Option values
 * without named choices, and arguments, complete as file names.
 */
export function bashCompletion(tree: readonly CompletionCommand[]): string {
  const at = tree.map((c) => {
    const words = (list: string[]) => shellQuote(list.join(' '));
    const values = c.options.filter((o) => o.takesValue).flatMap((o) => o.names);
    return [
      `    ${shellQuote(c.path.join(' '))})`,
      `      mg_cmds=${words(c.subcommands.map((s) => s.name))}`,
      `      mg_opts=${words(c.options.flatMap((o) => o.names))}`,
      `      mg_vals=${words(values)}`,
      `      mg_args=${words(c.argumentChoices)}`,
      `      mg_files=${c.takesFiles ? 1 : 0} ;;`,
    ].join('\n');
  });
  const choices = tree.flatMap((c) =>
    c.options
      .filter((o) => o.choices.length > 0)
      .flatMap((o) =>
        o.names.map(
          (name) =>
            `    ${shellQuote(`${c.path.join(' ')} ${name}`)}) mg_choices=${shellQuote(o.choices.join(' '))} ;;`,
        ),
      ),
  );
  return `# bash completion for meshguard, from \`meshguard completion bash\` (run it again after an upgrade).
# Load it in ~/.bashrc:  eval "$(meshguard completion bash)"

# What the command at path $1 takes: subcommands, options, options that take a value, the
# choices of its argument, and whether its arguments are files.
__meshguard_at() {
  mg_cmds='' mg_opts='' mg_vals='' mg_args='' mg_files=0
  case "$1" in
${at.join('\n')}
  esac
}

# The values option $2 of the command at path $1 accepts, if it names them.
__meshguard_choices() {
  mg_choices=''
  case "$1 $2" in
${choices.join('\n')}
  esac
}

_meshguard() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" mg_path='' word i skip=0
  local mg_cmds mg_opts mg_vals mg_args mg_files mg_choices
  COMPREPLY=()
  # Which command the words so far name; an option's value is not a command.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    if ((skip)); then
      skip=0
      continue
    fi
    __meshguard_at "$mg_path"
    case "$word" in
      -*=*) ;;
      -*) [[ " $mg_vals " == *" $word "* ]] && skip=1 ;;
      *) [[ " $mg_cmds " == *" $word "* ]] && mg_path="\${mg_path:+$mg_path }$word" ;;
    esac
  done
  __meshguard_at "$mg_path"
  if ((skip)); then
    # The value of an option: its choices, else file names (complete -o default).
    __meshguard_choices "$mg_path" "\${COMP_WORDS[COMP_CWORD-1]}"
    [[ -n $mg_choices ]] && COMPREPLY=($(compgen -W "$mg_choices" -- "$cur"))
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$mg_opts" -- "$cur"))
  elif [[ -n $mg_cmds ]]; then
    COMPREPLY=($(compgen -W "$mg_cmds" -- "$cur"))
  elif [[ -n $mg_args ]]; then
    COMPREPLY=($(compgen -W "$mg_args" -- "$cur"))
  elif ((!mg_files)); then
    COMPREPLY=($(compgen -W "$mg_opts" -- "$cur"))
  fi
  return 0
}

complete -o default -F _meshguard meshguard
`;
}
