import { APPROVAL_STATUSES } from '@meshguard/core';
import { TRUST_TIERS } from '@meshguard/core/internal';
import { Argument, Command, Option } from 'commander';
import {
  agentCreate,
  agentList,
  agentRevoke,
  approverCreate,
  approverList,
  approverRevoke,
  type GatewayClientFlags,
  policyPush,
} from './admin-commands';
import { approvalsAnswer, approvalsList, approvalsShow, approvalsWatch } from './approval-commands';
import {
  type AuditQueryFlags,
  auditExport,
  auditQuery,
  auditStats,
  auditTail,
  auditTrace,
  auditVerify,
} from './audit-commands';
import { reportError } from './cli-error';
import { type CliIo, processIo } from './cli-output';
import { bashCompletion } from './completion-bash';
import { fishCompletion } from './completion-fish';
import { completionTree } from './completion-tree';
import { zshCompletion } from './completion-zsh';
import { type GatewayStartFlags, gatewayRotateKey, gatewayStart } from './gateway-commands';
import { type ExplainFlags, policyExplain, policyTest, policyValidate } from './policy-commands';

declare const __PACKAGE_VERSION__: string | undefined;

/** Builds the `meshguard` command tree; each action resolves to its exit code. */
export function createProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('meshguard')
    .description('Govern what AI agents may do: policies, decisions and the audit trail.')
    .version(typeof __PACKAGE_VERSION__ === 'string' ? __PACKAGE_VERSION__ : '0.0.0')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, '')),
      writeErr: (s) => io.err(s.replace(/\n$/, '')),
      outputError: (s) => io.err(`meshguard: ${s.replace(/^error: /, '').trim()}`),
    })
    .exitOverride();

  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      setExit(await fn(...args));
    };

  const policy = program.command('policy').description('validate, explain and test policies');
  policy
    .command('validate')
    .description('check policy files and folders; every error as file:line:col')
    .argument('<paths...>', 'policy files or folders')
    .option('--strict', 'fail on warnings too (an empty conditions: {}, a pattern without ":"...)')
    .option('--json', 'the verdict as JSON: { ok, policies, warnings, errors }')
    .action(
      run((paths: string[], flags: { strict?: boolean; json?: boolean }) => policyValidate(io, paths, flags)),
    );

  policy
    .command('explain')
    .description('decide one action and show why: every rule and condition considered')
    .requiredOption('--policy <path>', 'policy file or folder (repeatable)', collect)
    .requiredOption('--action <action>', 'the action, e.g. write:refund')
    .option('--agent <name>', 'agent name', 'agent')
    .option('--id <id>', 'agent id (default: the name)')
    .option('--tags <a,b>', 'agent tags, comma-separated')
    .addOption(new Option('--tier <tier>', 'agent trust tier').choices(TRUST_TIERS))
    .option('--context <json>', 'the context as a JSON object, e.g. \'{"amount": 150}\'')
    .option('--via <a,b>', 'delegation chain, root first, comma-separated agent names')
    .option('--at <time>', 'evaluate at this ISO time (default: now)')
    .option('--json', 'print the Decision and the explanation as JSON')
    .option('--exit-code', 'exit with the decision: 0 allow, 1 deny, 3 require_approval')
    .action(run((flags: ExplainFlags) => policyExplain(io, flags)));

  policy
    .command('test')
    .description('run table-driven policy test cases')
    .argument('<files...>', 'case files (YAML)')
    .option('--json', 'the results as JSON: { ok, passed, failed, files, errors }')
    .action(run((files: string[], flags: { json?: boolean }) => policyTest(io, files, flags)));

  policy
    .command('push')
    .description(
      'send policy files to a gateway; refused with file:line:col when invalid (the set in force stays)',
    )
    .argument('<paths...>', 'policy files or folders')
    .option('--gateway <url>', 'the gateway (default MESHGUARD_GATEWAY_URL)')
    .option('--json', 'the answer as JSON: { ok, version, files } or { ok: false, errors }')
    .action(
      run((paths: string[], flags: GatewayClientFlags & { json?: boolean }) => policyPush(io, paths, flags)),
    );

  const gateway = program.command('gateway').description('run the HTTP decision point');
  gateway
    .command('start')
    .description('serve decisions and the audit trail over HTTP until SIGTERM (then drain and flush)')
    .option('--port <port>', 'port, default 8787')
    .option('--host <host>', 'interface, default 127.0.0.1')
    .option(
      '--db <url>',
      'database: sqlite:<path> or postgres://... (replicas); default MESHGUARD_DB or .meshguard/meshguard.db',
    )
    .option('--policies <dir>', 'enforce these policy files from the start')
    .option('--dev', 'without MESHGUARD_ADMIN_TOKEN: generate an admin token and print it once')
    .option('--request-timeout <ms>', 'time to receive a whole request, default 30000')
    .option('--headers-timeout <ms>', 'time to receive the request headers, default 10000')
    .option('--keep-alive-timeout <ms>', 'how long an idle keep-alive socket stays open, default 5000')
    .option('--idle-timeout <ms>', 'how long any socket may stay silent, default 60000')
    .option('--max-connections <n>', 'most sockets open at once, default 2048')
    .option('--delegated-token-ttl <s>', 'lifetime of the token a handoff target gets, default 300')
    .option(
      '--signing-key <file>',
      'the token signing key file (default MESHGUARD_SIGNING_KEY, else <db>.signing-key.json beside a SQLite database, .meshguard/gateway-signing-key.json with PostgreSQL)',
    )
    .option(
      '--notify <file>',
      'webhooks that hear of approval requests (and denies): YAML, mode 0600 (see docs/approvals.md)',
    )
    .action(run((flags: GatewayStartFlags) => gatewayStart(io, flags)));
  gateway
    .command('rotate-key')
    .description(
      'a new token signing key in the key file; the old one is retired (its tokens verify until they expire); running gateways use the new one after SIGHUP',
    )
    .option('--db <url>', 'the gateway database (default MESHGUARD_DB or .meshguard/meshguard.db)')
    .option('--signing-key <file>', 'the key file (default as for gateway start)')
    .option('--json', 'print { kid, retired, file } as JSON')
    .action(
      run((flags: { db?: string; signingKey?: string; json?: boolean }) => gatewayRotateKey(io, flags)),
    );

  const agent = program.command('agent').description('issue and revoke agent tokens at a gateway');
  agent
    .command('create')
    .description('register an agent and print its token')
    .requiredOption('--name <name>', 'agent name')
    .option('--tags <a,b>', 'tags, comma-separated')
    .addOption(new Option('--tier <tier>', 'trust tier (default basic)').choices(TRUST_TIERS))
    .option('--id <id>', 'agent id (default: generated)')
    .option('--ttl <duration>', 'token lifetime: 30d, 12h, 3600 (default 30d)')
    .option('--gateway <url>', 'the gateway (default MESHGUARD_GATEWAY_URL)')
    .option('--json', 'the agent and token as JSON')
    .action(run((flags: Parameters<typeof agentCreate>[1]) => agentCreate(io, flags)));
  agent
    .command('list')
    .description('the agents the gateway knows, active or revoked')
    .option('--gateway <url>', 'the gateway (default MESHGUARD_GATEWAY_URL)')
    .option('--json', 'JSON lines')
    .action(run((flags: GatewayClientFlags & { json?: boolean }) => agentList(io, flags)));
  agent
    .command('revoke')
    .description('revoke an agent: every token it holds stops working on the next request')
    .argument('<id>', 'agent id')
    .option('--gateway <url>', 'the gateway (default MESHGUARD_GATEWAY_URL)')
    .option('--json', 'the answer as JSON: { ok, id, revoked, error? }')
    .action(run((id: string, flags: GatewayClientFlags & { json?: boolean }) => agentRevoke(io, id, flags)));

  const approver = program.command('approver').description('issue and revoke approver tokens at a gateway');
  approver
    .command('create')
    .description('create a person who answers approvals, and print their token (shown once)')
    .requiredOption('--name <name>', 'who the approver is (recorded with each answer)')
    .option('--tags <a,b>', 'tags or roles a rule names in approval.approvers, comma-separated')
    .option('--gateway <url>', 'the gateway (default MESHGUARD_GATEWAY_URL)')
    .option('--json', 'the approver and token as JSON')
    .action(run((flags: Parameters<typeof approverCreate>[1]) => approverCreate(io, flags)));
  approver
    .command('list')
    .description('the approvers the gateway knows, active or revoked')
    .option('--gateway <url>', 'the gateway (default MESHGUARD_GATEWAY_URL)')
    .option('--json', 'JSON lines')
    .action(run((flags: GatewayClientFlags & { json?: boolean }) => approverList(io, flags)));
  approver
    .command('revoke')
    .description('revoke an approver: their token stops working on the next request')
    .argument('<id>', 'approver id')
    .option('--gateway <url>', 'the gateway (default MESHGUARD_GATEWAY_URL)')
    .option('--json', 'the answer as JSON: { ok, id, revoked, error? }')
    .action(
      run((id: string, flags: GatewayClientFlags & { json?: boolean }) => approverRevoke(io, id, flags)),
    );

  const approvals = program
    .command('approvals')
    .description(
      'the approval inbox (list, show, approve, reject and watch it) on the embedded database or a gateway',
    );
  const approvalSource = (command: Command) =>
    command
      .option(
        '--db <url>',
        'the database (sqlite:<path> or postgres://...); default MESHGUARD_DB or .meshguard/meshguard.db',
      )
      .option(
        '--gateway <url>',
        'answer through a gateway (MESHGUARD_APPROVER_TOKEN or MESHGUARD_ADMIN_TOKEN); default MESHGUARD_GATEWAY_URL when --db is not given',
      );
  approvalSource(approvals.command('list').description('approval requests, newest first (default: pending)'))
    .addOption(new Option('--status <status>', 'which requests').choices(['all', ...APPROVAL_STATUSES]))
    .option('--limit <n>', 'at most this many, default 100')
    .option('--json', 'JSON lines')
    .action(run((flags: Parameters<typeof approvalsList>[1]) => approvalsList(io, flags)));
  approvalSource(approvals.command('show').description('one request, with the exact arguments to judge'))
    .argument('<id>', 'approval id (apr_...)')
    .option('--json', 'JSON')
    .action(run((id: string, flags: Parameters<typeof approvalsShow>[2]) => approvalsShow(io, id, flags)));
  approvalSource(
    approvals.command('approve').description('approve a pending request: exit 1 when answered already'),
  )
    .argument('<id>', 'approval id')
    .option('--comment <text>', 'why, kept with the request')
    .option('--by <name>', 'who approves (embedded database; default: your user name)')
    .option('--json', 'the answer as JSON')
    .action(
      run((id: string, flags: Parameters<typeof approvalsAnswer>[3]) => approvalsAnswer(io, id, true, flags)),
    );
  approvalSource(
    approvals.command('reject').description('reject a pending request: the agent is told --reason'),
  )
    .argument('<id>', 'approval id')
    .requiredOption('--reason <text>', 'why: what the agent or model is told')
    .option('--by <name>', 'who rejects (embedded database; default: your user name)')
    .option('--json', 'the answer as JSON')
    .action(
      run((id: string, flags: Parameters<typeof approvalsAnswer>[3]) =>
        approvalsAnswer(io, id, false, flags),
      ),
    );
  approvalSource(
    approvals.command('watch').description('print new pending requests as they arrive, until interrupted'),
  )
    .option('--json', 'JSON lines')
    .action(run((flags: Parameters<typeof approvalsWatch>[1]) => approvalsWatch(io, flags)));

  const audit = program.command('audit').description('query, follow, verify and export the audit trail');
  const dbOption = () =>
    new Option(
      '--db <url>',
      'audit database (sqlite:<path>); default MESHGUARD_DB or .meshguard/meshguard.db',
    );
  const gatewayOption = () =>
    new Option(
      '--gateway <url>',
      'read through a gateway (with MESHGUARD_ADMIN_TOKEN); default MESHGUARD_GATEWAY_URL when --db is not given',
    );
  const filters = (command: Command) =>
    command
      .addOption(dbOption())
      .addOption(gatewayOption())
      .option('--agent <id|name>', 'only this agent (id or name)')
      .option('--action <glob>', 'only matching actions, e.g. "write:*"')
      .addOption(
        new Option('--decision <effect>', 'only decisions with this effect').choices([
          'allow',
          'deny',
          'require_approval',
        ]),
      )
      .option('--framework <name>', 'only this framework (openai-agents, bedrock, vertex...)')
      .option('--trace <traceId>', 'only this trace')
      .option('--since <time>', 'from this time: ISO, or relative (15m, 1h, 7d)')
      .option('--until <time>', 'before this time: ISO, or relative');
  filters(
    audit
      .command('query')
      .description('matching events as a table (time, agent, framework, action, decision, reason)'),
  )
    .option('--limit <n>', 'at most this many (the latest), default 50')
    .option('--json', 'JSON lines')
    .action(run((flags: AuditQueryFlags) => auditQuery(io, flags)));
  audit
    .command('trace')
    .description('one run as a timeline tree: decisions, outcomes, handoffs, denials')
    .argument('<traceId>', 'the trace id of the run, as `audit query` shows it')
    .addOption(dbOption())
    .addOption(gatewayOption())
    .option('--json', 'JSON lines')
    .action(
      run((traceId: string, flags: { db?: string; gateway?: string; json?: boolean }) =>
        auditTrace(io, traceId, flags),
      ),
    );
  audit
    .command('tail')
    .description('the latest events; -f follows new ones')
    .addOption(dbOption())
    .addOption(gatewayOption())
    .option('-f, --follow', 'keep printing new events until interrupted')
    .option('-n, --lines <n>', 'how many latest events, default 20')
    .option('--interval <ms>', 'with -f: how often to look, default 500')
    .option('--json', 'JSON lines')
    .action(
      run((flags: { db?: string; gateway?: string; follow?: boolean; lines?: string; json?: boolean }) =>
        auditTail(io, flags),
      ),
    );
  audit
    .command('verify')
    .description("check every stream's hash chain: exit 0 intact, 1 broken")
    .addOption(dbOption())
    .addOption(gatewayOption())
    .option('--json', 'the report as JSON')
    .action(run((flags: { db?: string; gateway?: string; json?: boolean }) => auditVerify(io, flags)));
  filters(audit.command('export').description('stream events as JSON lines or CSV'))
    .addOption(new Option('--format <format>', 'jsonl or csv').choices(['jsonl', 'csv']).default('jsonl'))
    .option('--out <file>', 'write here instead of stdout')
    .option('--limit <n>', 'at most this many: the first n matching, oldest first')
    .action(run((flags: AuditQueryFlags & { format?: string; out?: string }) => auditExport(io, flags)));
  audit
    .command('stats')
    .description('counts by decision, action and agent')
    .addOption(dbOption())
    .addOption(gatewayOption())
    .option('--since <time>', 'from this time: ISO, or relative (15m, 1h, 7d)')
    .option('--json', 'JSON')
    .action(
      run((flags: { db?: string; gateway?: string; since?: string; json?: boolean }) =>
        auditStats(io, flags),
      ),
    );

  program
    .command('completion')
    .description('print a completion script for bash, zsh or fish (see its first lines for how to load it)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action(
      run(async (shell: keyof typeof COMPLETIONS) => {
        io.out(COMPLETIONS[shell](completionTree(program)).replace(/\n$/, ''));
        return 0;
      }),
    );

  return program;
}

const COMPLETIONS = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion };
const SHELLS = Object.keys(COMPLETIONS);

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Runs the CLI: returns the exit code (0 ok, 1 a check failed, 2 bad input, 69 the gateway
 * unreachable, 70 unexpected; `EXIT` in cli-error.ts is the whole table).
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let code = 0;
  const program = createProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return code;
  } catch (error) {
    return reportError(io, error);
  }
}
