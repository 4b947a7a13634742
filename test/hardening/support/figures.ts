// The hardening suite's mode (quick inside `bun run test`, full with HARDENING=full) and how it prints figures.
export const FULL = process.env.HARDENING === "full";

/** Picks the quick or the full value of a knob. */
export const scale = <T>(quick: T, full: T): T => (FULL ? full : quick);

/** Prints one measured figure, e.g. `[hardening] fuzz: requests tried = 10000`. */
export function figure(suite: string, name: string, value: string | number): void {
  console.log(`[hardening] ${suite}: ${name} = ${value}`);
}
