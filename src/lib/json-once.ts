// JSON text made once per object: a run's answer (up to MAX_OUTPUT_SIZE of output) is stored and sent from one string.
const made = new WeakMap<object, string>();

/**
 * `JSON.stringify(value)`, remembered for as long as `value` lives: the same object gives the same string.
 * Only for values nobody changes once made (a run's outcome).
 */
export function jsonOnce(value: object): string {
  let text = made.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    made.set(value, text);
  }
  return text;
}
