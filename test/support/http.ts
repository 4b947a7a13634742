// Reads a JSON answer as a plain object (tests then assert its shape).

export type JsonObject = Record<string, unknown>;

export async function readJson(res: Response): Promise<JsonObject> {
  const value: unknown = await res.json();
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error(`expected a JSON object, got ${JSON.stringify(value)}`);
  return value as JsonObject;
}
