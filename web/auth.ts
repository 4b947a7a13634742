// The API key: kept in sessionStorage only, with listeners so the prompt and header follow it.
import { useEffect, useState } from "preact/hooks";

const STORAGE_KEY = "opencode-server.key";

export interface AuthState {
  /** The server asks for a key (GET /health said auth: "api_key"). */
  required: boolean;
  key: string | null;
  /** The last key sent was answered with a 401. */
  refused: boolean;
}

let required = false;
let refused = false;
let memoryKey: string | null = null;
const listeners = new Set<() => void>();

function read(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage can be disabled (privacy settings): then the key lives as long as the page.
    return memoryKey;
  }
}

function write(key: string | null): void {
  memoryKey = key;
  try {
    if (key === null) sessionStorage.removeItem(STORAGE_KEY);
    else sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // See read(): memoryKey stands in.
  }
  for (const l of [...listeners]) l();
}

export const authState = (): AuthState => ({ required, key: read(), refused });

export function setRequired(value: boolean): void {
  required = value;
  write(value ? read() : null);
}

export function saveKey(key: string): void {
  refused = false;
  write(key);
}

export function forgetKey(): void {
  refused = false;
  write(null);
}

/** A 401 for `sent`: drop it unless another key has replaced it meanwhile. */
export function refuseKey(sent: string | null): void {
  if (sent === null || read() !== sent) return;
  refused = true;
  write(null);
}

/** The key to send: null when none is needed, else waits until one has been entered. */
export function keyFor(signal?: AbortSignal): Promise<string | null> {
  if (!required) return Promise.resolve(null);
  const now = read();
  if (now !== null) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const done = () => {
      listeners.delete(check);
      signal?.removeEventListener("abort", abort);
    };
    const check = () => {
      const key = read();
      if (key === null) return;
      done();
      resolve(key);
    };
    const abort = () => {
      done();
      reject(signal?.reason);
    };
    if (signal?.aborted) return abort();
    listeners.add(check);
    signal?.addEventListener("abort", abort, { once: true });
  });
}

export function useAuth(): AuthState {
  const [state, setState] = useState(authState);
  useEffect(() => {
    const update = () => setState(authState());
    listeners.add(update);
    update();
    return () => void listeners.delete(update);
  }, []);
  return state;
}
