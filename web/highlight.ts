// A small one-line tokeniser for diff syntax colouring: keywords, strings, comments, numbers per language.

export type TokenKind = "keyword" | "string" | "comment" | "number" | "plain";
export interface Token {
  kind: TokenKind;
  text: string;
}

interface Lang {
  keywords: Set<string>;
  lineComments: string[];
  block?: [string, string];
  quotes: string;
  /** `#` starts a comment only at the line start or after a space (shell `$#`, YAML `a#b`). */
  hashNeedsSpace?: boolean;
  /** Identifiers right after `<` or `</` are tag names (HTML, XML). */
  tags?: boolean;
}

const words = (s: string) => new Set(s.split(" "));
const C_LIKE = "if else for while do switch case default break continue return goto sizeof struct union enum typedef static const extern volatile inline void char short int long float double signed unsigned";
const JS =
  "abstract as async await break case catch class const continue debugger declare default delete do else enum export extends false finally for from function get if implements import in instanceof interface keyof let new null of private protected public readonly return satisfies set static super switch this throw true try type typeof undefined var void while with yield";

const LANGS: Record<string, Lang> = {
  js: { keywords: words(JS), lineComments: ["//"], block: ["/*", "*/"], quotes: "\"'`" },
  py: {
    keywords: words("and as assert async await break class continue def del elif else except False finally for from global if import in is lambda None nonlocal not or pass raise return self True try while with yield match case"),
    lineComments: ["#"],
    quotes: "\"'",
  },
  go: {
    keywords: words("break case chan const continue default defer else fallthrough for func go goto if import interface map package range return select struct switch type var nil true false iota"),
    lineComments: ["//"],
    block: ["/*", "*/"],
    quotes: "\"'`",
  },
  rs: {
    keywords: words("as async await break const continue crate dyn else enum extern false fn for if impl in let loop match mod move mut pub ref return self Self static struct super trait true type unsafe use where while Some None Ok Err"),
    lineComments: ["//"],
    block: ["/*", "*/"],
    // Not `'`: it also starts lifetimes ('a), which never close.
    quotes: '"',
  },
  java: {
    keywords: words("abstract assert boolean break byte case catch char class const continue default do double else enum extends final finally float for if implements import instanceof int interface long native new null package private protected public return short static super switch synchronized this throw throws try true false var void volatile while record"),
    lineComments: ["//"],
    block: ["/*", "*/"],
    quotes: "\"'",
  },
  c: { keywords: words(`${C_LIKE} #include #define #ifdef #ifndef #endif #if #else #pragma NULL true false bool class namespace template typename public private protected virtual override new delete this using nullptr auto`), lineComments: ["//"], block: ["/*", "*/"], quotes: "\"'" },
  rb: {
    keywords: words("alias and begin break case class def defined do else elsif end ensure false for if in module next nil not or redo rescue retry return self super then true undef unless until when while yield require attr_reader attr_accessor"),
    lineComments: ["#"],
    quotes: "\"'",
  },
  sh: {
    keywords: words("if then else elif fi case esac for while until do done in function return local export readonly set unset shift exit echo cd source"),
    lineComments: ["#"],
    quotes: "\"'",
    hashNeedsSpace: true,
  },
  json: { keywords: words("true false null"), lineComments: [], quotes: '"' },
  yaml: { keywords: words("true false null yes no on off"), lineComments: ["#"], quotes: "\"'", hashNeedsSpace: true },
  toml: { keywords: words("true false"), lineComments: ["#"], quotes: "\"'", hashNeedsSpace: true },
  css: { keywords: words("@media @import @supports @keyframes @font @layer !important inherit initial unset none auto"), lineComments: [], block: ["/*", "*/"], quotes: "\"'" },
  html: { keywords: new Set(), lineComments: [], block: ["<!--", "-->"], quotes: "\"'", tags: true },
  sql: { keywords: words("select from where and or not insert into values update set delete create table drop alter index join left right inner outer on group by order having limit as null is in exists primary key references SELECT FROM WHERE AND OR NOT INSERT INTO VALUES UPDATE SET DELETE CREATE TABLE DROP ALTER INDEX JOIN ON GROUP BY ORDER LIMIT AS NULL IS IN"), lineComments: ["--"], block: ["/*", "*/"], quotes: "'\"" },
  lua: { keywords: words("and break do else elseif end false for function goto if in local nil not or repeat return then true until while"), lineComments: ["--"], quotes: "\"'" },
};

const EXTENSIONS: Record<string, string> = {
  ts: "js", tsx: "js", js: "js", jsx: "js", mjs: "js", cjs: "js", mts: "js", cts: "js",
  py: "py", go: "go", rs: "rs", java: "java", kt: "java",
  c: "c", h: "c", cc: "c", cpp: "c", hpp: "c", cxx: "c",
  rb: "rb", sh: "sh", bash: "sh", zsh: "sh",
  json: "json", yaml: "yaml", yml: "yaml", toml: "toml", css: "css",
  html: "html", htm: "html", xml: "html", svg: "html", md: "md", markdown: "md", sql: "sql", lua: "lua",
};

/** The language key for a path, by extension; null: no highlighting. */
export function languageOf(path: string): string | null {
  const dot = path.lastIndexOf(".");
  if (dot === -1 || dot < path.lastIndexOf("/")) return null;
  return EXTENSIONS[path.slice(dot + 1).toLowerCase()] ?? null;
}

const IDENT = /[\w$]/;
// `#include`, `@media`, `!important`: a sigil that starts a keyword.
const SIGIL = /[#@!]/;
const NUMBER = /^(0x[\da-f_]+|\d[\d_]*(\.\d+)?(e[+-]?\d+)?)/i;

function push(tokens: Token[], kind: TokenKind, text: string): void {
  const last = tokens[tokens.length - 1];
  if (last && last.kind === kind) last.text += text;
  else if (text) tokens.push({ kind, text });
}

// Markdown has no keywords: headings and `code` are what stand out.
function markdown(line: string): Token[] {
  if (/^\s{0,3}#{1,6}\s/.test(line)) return [{ kind: "keyword", text: line }];
  const tokens: Token[] = [];
  for (const part of line.split(/(`[^`]*`)/)) push(tokens, part.startsWith("`") && part.length > 1 ? "string" : "plain", part);
  return tokens;
}

function quoted(line: string, i: number): number {
  const quote = line[i];
  let j = i + 1;
  while (j < line.length && line[j] !== quote) j += line[j] === "\\" ? 2 : 1;
  return Math.min(j + 1, line.length);
}

export function tokenize(line: string, language: string | null): Token[] {
  if (language === "md") return markdown(line);
  const lang = language === null ? undefined : LANGS[language];
  if (!lang) return [{ kind: "plain", text: line }];
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const rest = line.slice(i);
    const ch = line[i] ?? "";
    const lineComment = lang.lineComments.find((c) => rest.startsWith(c) && !(c === "#" && lang.hashNeedsSpace && i > 0 && !/\s/.test(line[i - 1] ?? "")));
    if (lineComment) {
      push(tokens, "comment", rest);
      break;
    }
    if (lang.block && rest.startsWith(lang.block[0])) {
      const end = line.indexOf(lang.block[1], i + lang.block[0].length);
      const stop = end === -1 ? line.length : end + lang.block[1].length;
      push(tokens, "comment", line.slice(i, stop));
      i = stop;
      continue;
    }
    if (lang.quotes.includes(ch)) {
      const stop = quoted(line, i);
      push(tokens, "string", line.slice(i, stop));
      i = stop;
      continue;
    }
    const prev = line[i - 1] ?? "";
    const number = /\d/.test(ch) && !IDENT.test(prev) ? NUMBER.exec(rest) : null;
    if (number) {
      push(tokens, "number", number[0]);
      i += number[0].length;
      continue;
    }
    const sigil = SIGIL.test(ch) && IDENT.test(line[i + 1] ?? "");
    if ((IDENT.test(ch) || sigil) && !IDENT.test(prev)) {
      let j = i + 1;
      while (j < line.length && IDENT.test(line[j] ?? "")) j += 1;
      const word = line.slice(i, j);
      const tag = lang.tags && (prev === "<" || (prev === "/" && line[i - 2] === "<"));
      push(tokens, tag || lang.keywords.has(word) ? "keyword" : "plain", word);
      i = j;
      continue;
    }
    push(tokens, "plain", ch);
    i += 1;
  }
  return tokens;
}
