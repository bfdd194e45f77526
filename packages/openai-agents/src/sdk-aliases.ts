// biome-ignore-all lint/suspicious/noExplicitAny: the SDK bounds its own generics with `any` (`run<TAgent extends Agent<any, any>>`, `Agent.tools: Tool<any>[]` for an agent of any context, its private `AnyFunctionTool`); matching them needs the same `any`, kept in this one file.
import type { Agent, ComputerTool, FunctionTool, Handoff, Tool } from '@openai/agents';

/** Any SDK agent: the bound of the SDK's own `TAgent` parameters. */
export type AnyAgent = Agent<any, any>;

/** Any function tool, whatever its context, parameters and result (the SDK's `AnyFunctionTool`). */
export type AnyFunctionTool = FunctionTool<any, any, any>;

/** Any handoff, as `Agent.handoffs` holds them. */
export type AnyHandoff = Handoff<any, any>;

/** Any tool of an agent whose context is not known here (`Agent<any, any>['tools']`). */
export type AnyTool = Tool<any>;

/** Any computer tool, whatever its context and computer. */
export type AnyComputerTool = ComputerTool<any, any>;
