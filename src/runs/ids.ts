// Run ids: UUIDv7, so they sort by creation time; the short form takes the random tail, never the clock.

export function newRunId(): string {
  return Bun.randomUUIDv7();
}

/** 8 random hex digits, for branch and directory names (a v7 id's first digits are its timestamp). */
export function shortRunId(id: string): string {
  return id.replaceAll("-", "").slice(-8);
}
