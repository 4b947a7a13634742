// Where opencode keeps its files inside a home directory: the XDG layout it follows.

export interface OpencodeDirs {
  /** XDG base directories handed to the agent, so opencode reads the files the server wrote. */
  xdgConfig: string;
  xdgData: string;
  xdgCache: string;
  xdgState: string;
  /** opencode's own directories inside them. */
  config: string;
  data: string;
}

export function opencodeDirs(home: string): OpencodeDirs {
  const xdgConfig = `${home}/.config`;
  const xdgData = `${home}/.local/share`;
  return {
    xdgConfig,
    xdgData,
    xdgCache: `${home}/.cache`,
    xdgState: `${home}/.local/state`,
    config: `${xdgConfig}/opencode`,
    data: `${xdgData}/opencode`,
  };
}
