// The shapes opencode accepts for model and agent names, checked before they reach its argv.

/** provider/model, where the model part may itself contain slashes (e.g. openrouter/anthropic/claude-sonnet-4). */
export const MODEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9._:@+\/-]+$/;
export const MODEL_MAX_LENGTH = 200;

export const AGENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
