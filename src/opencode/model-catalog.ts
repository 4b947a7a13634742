// The models opencode can use here, once probed: requests naming another model are refused before any agent starts.

/** Levenshtein distance, for suggesting what a mistyped model name probably meant. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

export class ModelCatalog {
  private models: ReadonlySet<string> | null = null;

  /** Null until the probe answered (or when it failed): then nothing is refused. */
  get known(): readonly string[] | null {
    return this.models ? [...this.models] : null;
  }

  set(models: readonly string[]): void {
    this.models = new Set(models);
  }

  /** True/false once the list is known; null while it is not. */
  has(model: string): boolean | null {
    return this.models ? this.models.has(model) : null;
  }

  /** The closest names: the same provider's models first, then by edit distance. */
  nearMatches(model: string, limit = 5): string[] {
    const provider = model.split("/")[0];
    return [...(this.models ?? [])]
      .map((m) => ({ m, score: distance(model, m) - (m.split("/")[0] === provider ? 100 : 0) }))
      .sort((x, y) => x.score - y.score || x.m.localeCompare(y.m))
      .slice(0, limit)
      .map((x) => x.m);
  }

  /** Why `model` cannot be used, or null when it can (or the list is unknown). */
  problem(model: string): string | null {
    if (this.has(model) !== false) return null;
    const near = this.nearMatches(model);
    return `"${model}" is not a model opencode can use here${near.length > 0 ? `; near matches: ${near.join(", ")}` : ""}`;
  }
}
