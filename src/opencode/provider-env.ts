// opencode's provider catalogue, generated as data by scripts/gen-provider-env.ts and checked once here, so a bad regeneration stops the server at start-up.
import { z } from "zod";
import catalogue from "./provider-catalogue.json" with { type: "json" };

export interface CatalogueProvider {
  env: readonly string[];
  npm: string | null;
  api: string | null;
}

const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;

const CatalogueSchema = z.object({
  opencodeVersion: z.string().min(1),
  /** The environment variables opencode's bundled models catalogue reads provider settings and credentials from. */
  envVars: z.array(z.string().regex(ENV_NAME)),
  /** Each catalogued provider's variables, SDK package and API base URL (where the catalogue names one). */
  providers: z.record(
    z.string().min(1),
    z.object({ env: z.array(z.string().regex(ENV_NAME)), npm: z.string().nullable(), api: z.string().nullable() }),
  ),
});

const checked = CatalogueSchema.parse(catalogue);

/** The opencode-ai version the catalogue was read from (a test keeps it equal to package.json's pin). */
export const OPENCODE_VERSION_SCANNED: string = checked.opencodeVersion;

export const PROVIDER_ENV_VARS: readonly string[] = checked.envVars;

export const CATALOGUE_PROVIDERS: Readonly<Record<string, CatalogueProvider>> = checked.providers;
