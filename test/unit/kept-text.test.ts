// The output kept up to its byte cap: cut on a character boundary, one line per part, the separators counted.
import { expect, test } from "bun:test";
import { cutUtf8, KeptText } from "../../src/opencode/kept-text.ts";

/** The reference cut: encode, step back over continuation bytes, decode (what the collector did before). */
function referenceCut(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString("utf8");
}

const MIXED = "aé€😀b\u00ffz😀😀€é"; // 1-, 2-, 3- and 4-byte characters side by side

test("cutUtf8 cuts at every byte count exactly where the encoded cut would, and says how many bytes it kept", () => {
  const total = Buffer.byteLength(MIXED);
  for (let max = 0; max <= total + 1; max++) {
    const cut = cutUtf8(MIXED, max);
    expect(cut).toEqual({ text: referenceCut(MIXED, max), bytes: Buffer.byteLength(referenceCut(MIXED, max)) });
  }
});

test("a character straddling the cap is dropped whole, never split", () => {
  // "ab" then a 4-byte emoji: a cap of 3, 4 or 5 bytes keeps "ab" only.
  for (const cap of [3, 4, 5]) {
    const kept = new KeptText(cap);
    expect(kept.add("p", "ab😀")).toBe("ab");
    expect(kept.output()).toEqual({ output: "ab", truncated: true });
  }
  const exact = new KeptText(6);
  expect(exact.add("p", "ab😀")).toBe("ab😀");
  expect(exact.output()).toEqual({ output: "ab😀", truncated: false });
});

test("parts are trimmed and joined one per line; the separators count towards the cap, and may end a cut output", () => {
  const kept = new KeptText(12);
  kept.add("a", "héllo  "); // 8 bytes raw, 6 trimmed
  kept.add("b", "wörld"); // 6 bytes: 14 raw in all, so it is cut to 4 ("wör")
  expect(kept.full).toBe(true);
  // Joined: "héllo" (6) + "\n" (1) + "wör" (4) = 11 ≤ 12.
  expect(kept.output()).toEqual({ output: "héllo\nwör", truncated: true });

  // Each part fits as kept, but the joined text does not: the last part is cut so the whole is ≤ the cap.
  const joined = new KeptText(9);
  joined.add("a", "abcd");
  joined.add("b", "efgh"); // 8 raw bytes: fits; joined "abcd\nefgh" is 9: fits
  expect(joined.output()).toEqual({ output: "abcd\nefgh", truncated: false });
  const over = new KeptText(8);
  over.add("a", "abc");
  over.add("b", "defg"); // 7 raw ≤ 8, joined 8 ≤ 8
  over.add("c", "h"); // 8 raw ≤ 8; joined "abc\ndefg\nh" is 10: its first 8 bytes end at "g"
  expect(over.output()).toEqual({ output: "abc\ndefg", truncated: true });
  const sep = new KeptText(9);
  sep.add("a", "abc");
  sep.add("b", "defg");
  sep.add("c", "hi");
  // 3 + 1 + 4 = 8; the separator (9th byte) fits, "hi" does not: the cut output ends with it.
  expect(sep.output()).toEqual({ output: "abc\ndefg\n", truncated: true });
});

test("a part replaced by its id gives back its room; nothing is kept once the cap is hit", () => {
  const kept = new KeptText(10);
  kept.add("a", "12345678");
  kept.add("a", "12"); // replaced: 2 bytes now
  kept.add("b", "abcdefgh"); // 10 raw bytes in all: kept whole, but the joined text (11) is cut
  expect(kept.output()).toEqual({ output: "12\nabcdefg", truncated: true });
  const full = new KeptText(4);
  expect(full.add("a", "abcdef")).toBe("abcd");
  expect(full.add("b", "x")).toBe("");
  expect(full.output()).toEqual({ output: "abcd", truncated: true });
});

test("the output is built once; compact() keeps it as the only copy and later parts follow it", () => {
  const kept = new KeptText(100);
  kept.add("a", "one");
  kept.add("b", "two");
  const first = kept.output();
  expect(kept.output()).toBe(first);
  expect(kept.compact()).toEqual({ output: "one\ntwo", truncated: false });
  expect(kept.output()).toEqual({ output: "one\ntwo", truncated: false });
  kept.add("c", "three");
  expect(kept.output()).toEqual({ output: "one\ntwo\nthree", truncated: false });
  const empty = new KeptText(100);
  expect(empty.compact()).toEqual({ output: "", truncated: false });
  empty.add("a", "x");
  expect(empty.output()).toEqual({ output: "x", truncated: false });
});
