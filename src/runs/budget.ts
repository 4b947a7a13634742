// What a run may spend: its caps from the request and the server's ceilings, and the check after each of opencode's steps.
import { AppError } from "../errors.ts";
import type { Usage } from "../opencode/types.ts";
import { BUDGET_CAPS, NO_LIMITS, type BudgetCap, type BudgetReport, type Limits, type Spent } from "./model.ts";

export const NOTHING_SPENT: Spent = { cost_usd: 0, tokens: 0, steps: 0 };

export type Exceeded = NonNullable<BudgetReport["exceeded"]>;

const USED: Record<BudgetCap, keyof Spent> = { max_cost_usd: "cost_usd", max_tokens: "tokens", max_steps: "steps" };
export const CEILING_VARS: Record<BudgetCap, string> = { max_cost_usd: "MAX_RUN_COST_USD", max_tokens: "MAX_RUN_TOKENS", max_steps: "MAX_RUN_STEPS" };

export function hasLimits(l: Limits): boolean {
  return BUDGET_CAPS.some((cap) => l[cap] !== null);
}

const KEY_CEILINGS: Record<BudgetCap, string> = { max_cost_usd: "max_run_cost_usd", max_tokens: "max_run_tokens", max_steps: "max_run_steps" };

/** The key whose ceilings (API_KEYS_FILE's max_run_*) apply under the server's. */
export interface KeyCeilings {
  name: string | null;
  ceilings: Limits;
}

/**
 * A request's caps within the ceilings — the server's (MAX_RUN_*) and its key's, the lower of the two: a
 * missing cap is the ceiling, a lower one stands, a higher one is refused naming the field and the ceiling
 * — a request may lower a cap, never raise it.
 */
export function resolveLimits(asked: Limits, ceilings: Limits, key: KeyCeilings = { name: null, ceilings: NO_LIMITS }): Limits {
  const out: Limits = { ...NO_LIMITS };
  for (const cap of BUDGET_CAPS) {
    const server = ceilings[cap];
    const own = key.ceilings[cap];
    const keyBinds = own !== null && (server === null || own < server);
    const ceiling = keyBinds ? own : server;
    const value = asked[cap];
    if (value !== null && ceiling !== null && value > ceiling) {
      const which = keyBinds ? `this key's ceiling (${KEY_CEILINGS[cap]}=${ceiling} for "${key.name}" in API_KEYS_FILE)` : `this server's ceiling (${CEILING_VARS[cap]}=${ceiling})`;
      throw new AppError("invalid_request", `Invalid field "${cap}": ${value} is above ${which}`, { field: cap });
    }
    out[cap] = value ?? ceiling;
  }
  return out;
}

export function spentOf(usage: Usage, steps: number): Spent {
  return { cost_usd: usage.cost, tokens: usage.input_tokens + usage.output_tokens, steps };
}

export function addSpent(a: Spent, b: Spent): Spent {
  return { cost_usd: a.cost_usd + b.cost_usd, tokens: a.tokens + b.tokens, steps: a.steps + b.steps };
}

function describe(e: Exceeded): string {
  const whose = e.scope === "thread" ? "the thread's" : "the run's";
  if (e.cap === "max_steps") return `${whose} steps reached max_steps (${e.limit}) and the agent wanted another`;
  if (e.cap === "max_cost_usd") return `${whose} cost reached $${e.used.toFixed(4)}, over max_cost_usd ($${e.limit})`;
  return `${whose} tokens reached ${e.used}, over max_tokens (${e.limit})`;
}

export function exceededMessage(e: Exceeded, steps: number): string {
  return steps === 0 ? `Budget exceeded before the run started: ${describe(e)}` : `Budget exceeded: ${describe(e)}; the run was stopped after step ${steps}`;
}

/**
 * A running run's spend against its caps and its thread's. Cost and tokens are known only once a step has
 * ended, so the step that takes a total over its cap is the last one (it may overshoot by that step);
 * steps are counted ahead: a run at its step cap whose last step asked for more is stopped before the next.
 */
export class Budget {
  private used: Spent = NOTHING_SPENT;
  exceeded: Exceeded | null = null;

  constructor(
    readonly limits: Limits,
    readonly threadLimits: Limits,
    /** What the thread's earlier runs spent. */
    readonly threadBefore: Spent,
  ) {}

  get active(): boolean {
    return hasLimits(this.limits) || hasLimits(this.threadLimits);
  }

  /** A thread already at its cap: the run must not start. */
  exhausted(): Exceeded | null {
    for (const cap of BUDGET_CAPS) {
      const limit = this.threadLimits[cap];
      const used = this.threadBefore[USED[cap]];
      if (limit !== null && used >= limit) return (this.exceeded = { cap, scope: "thread", limit, used });
    }
    return null;
  }

  /** After a step: the cap it crossed, if any (remembered). */
  step(total: Usage, steps: number, reason: string | null): Exceeded | null {
    this.used = spentOf(total, steps);
    if (this.exceeded) return this.exceeded;
    const goesOn = reason !== "stop";
    const check = (scope: "run" | "thread", limits: Limits, used: Spent): Exceeded | null => {
      for (const cap of BUDGET_CAPS) {
        const limit = limits[cap];
        if (limit === null) continue;
        const value = used[USED[cap]];
        const over = cap === "max_steps" ? value >= limit && goesOn : value > limit;
        if (over) return { cap, scope, limit, used: value };
      }
      return null;
    };
    this.exceeded = check("run", this.limits, this.used) ?? check("thread", this.threadLimits, addSpent(this.threadBefore, this.used));
    return this.exceeded;
  }

  /** The outcome's `budget` (null when no cap applied), for the run's final usage. */
  report(usage: Usage): BudgetReport | null {
    if (!this.active) return null;
    const used = spentOf(usage, this.used.steps);
    return {
      limits: this.limits,
      used,
      thread: hasLimits(this.threadLimits) ? { limits: this.threadLimits, used: addSpent(this.threadBefore, used) } : null,
      exceeded: this.exceeded,
    };
  }
}
