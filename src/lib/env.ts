// The shape of an environment as the config module receives it: read once, in main.ts, and passed down.
export type Env = Readonly<Record<string, string | undefined>>;
