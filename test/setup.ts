// Preloaded by bun test (bunfig.toml): hooks here apply to the whole run, not to one file.
import { afterAll } from "bun:test";
import { removeTempDirs } from "./support/temp.ts";

afterAll(removeTempDirs);
