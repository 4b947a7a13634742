// The libc calls Landlock needs from Bun (bun:ffi): the three landlock syscalls, prctl, open(O_PATH), chdir, execve.
import { dlopen, FFIType, ptr, read } from "bun:ffi";
import { readFileSync } from "node:fs";

/** The same on x86_64 and aarch64: syscalls added after 5.1 share the asm-generic numbers on every architecture. */
const SYS_LANDLOCK_CREATE_RULESET = 444;
const SYS_LANDLOCK_ADD_RULE = 445;
const SYS_LANDLOCK_RESTRICT_SELF = 446;
const LANDLOCK_CREATE_RULESET_VERSION = 1;
const LANDLOCK_RULE_PATH_BENEATH = 1;
const LANDLOCK_RULE_NET_PORT = 2;
const LANDLOCK_ACCESS_NET_CONNECT_TCP = 1 << 1;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_CAPBSET_DROP = 24;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
// asm-generic values, which x86_64 and aarch64 both use.
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;

const ERRNO_NAMES: Record<number, string> = { 1: "EPERM", 2: "ENOENT", 7: "E2BIG", 9: "EBADF", 13: "EACCES", 22: "EINVAL", 38: "ENOSYS", 95: "EOPNOTSUPP" };

function openLibc() {
  // syscall(2) is variadic; glibc's implementation reads exactly the registers given, so a fixed five-argument signature is safe.
  return dlopen("libc.so.6", {
    syscall: { args: [FFIType.i64, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i64 },
    prctl: { args: [FFIType.i32, FFIType.u64, FFIType.u64, FFIType.u64, FFIType.u64], returns: FFIType.i32 },
    open: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    chdir: { args: [FFIType.ptr], returns: FFIType.i32 },
    capset: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
    strerror: { args: [FFIType.i32], returns: FFIType.cstring },
  }).symbols;
}

let libc: ReturnType<typeof openLibc> | undefined;
const c = () => (libc ??= openLibc());

export class SyscallError extends Error {
  override readonly name = "SyscallError";
  constructor(
    what: string,
    readonly errno: number,
  ) {
    super(`${what}: ${ERRNO_NAMES[errno] ?? `errno ${errno}`} (${String(c().strerror(errno))})`);
  }
}

function errno(): number {
  const at = c().__errno_location();
  return at === null ? 0 : read.i32(at, 0);
}

function check(result: number | bigint, what: string): number {
  const n = Number(result);
  if (n < 0) throw new SyscallError(what, errno());
  return n;
}

/** A NUL-terminated copy; the caller keeps it referenced while the pointer is in use. */
function cString(s: string): Buffer {
  if (s.includes("\0")) throw new Error(`a NUL byte in ${JSON.stringify(s.slice(0, 40))}`);
  return Buffer.from(`${s}\0`, "utf8");
}

/** The kernel's Landlock ABI, or the reason there is none. */
export function landlockAbi(): { abi: number; error: string | null } {
  if (process.platform !== "linux" || (process.arch !== "x64" && process.arch !== "arm64")) {
    return { abi: 0, error: `not supported on ${process.platform}/${process.arch}` };
  }
  try {
    return { abi: check(c().syscall(SYS_LANDLOCK_CREATE_RULESET, 0, 0, LANDLOCK_CREATE_RULESET_VERSION, 0), "landlock_create_ruleset"), error: null };
  } catch (err) {
    return { abi: 0, error: err instanceof Error ? err.message : String(err) };
  }
}

/** A ruleset fd handling these rights; the attribute is cut to the size the ABI knows, so older kernels accept it. */
export function createRuleset(abi: number, handledFs: number, handledNet: number, scoped: number): number {
  const attr = new BigUint64Array([BigInt(handledFs), BigInt(handledNet), BigInt(scoped)]);
  const size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
  return check(c().syscall(SYS_LANDLOCK_CREATE_RULESET, ptr(attr), size, 0, 0), "landlock_create_ruleset");
}

export function addPathRule(rulesetFd: number, file: string, access: number): void {
  const name = cString(file);
  const fd = check(c().open(ptr(name), O_PATH | O_CLOEXEC), `open ${file}`);
  try {
    // struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd (little-endian on both architectures).
    const attr = Buffer.alloc(12);
    attr.writeBigUInt64LE(BigInt(access), 0);
    attr.writeInt32LE(fd, 8);
    check(c().syscall(SYS_LANDLOCK_ADD_RULE, rulesetFd, LANDLOCK_RULE_PATH_BENEATH, ptr(attr), 0), `landlock_add_rule ${file}`);
  } finally {
    c().close(fd);
  }
}

/** Lets the ruleset's domain connect to this TCP port (on any address: Landlock knows ports only). */
export function addConnectPortRule(rulesetFd: number, port: number): void {
  // struct landlock_net_port_attr: u64 allowed_access, u64 port.
  const attr = new BigUint64Array([BigInt(LANDLOCK_ACCESS_NET_CONNECT_TCP), BigInt(port)]);
  check(c().syscall(SYS_LANDLOCK_ADD_RULE, rulesetFd, LANDLOCK_RULE_NET_PORT, ptr(attr), 0), `landlock_add_rule port ${port}`);
}

export function closeFd(fd: number): void {
  c().close(fd);
}

/** Restricts the calling thread — the one that will execve — and everything it starts; irreversible. */
export function restrictSelf(rulesetFd: number): void {
  check(c().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)");
  check(c().syscall(SYS_LANDLOCK_RESTRICT_SELF, rulesetFd, 0, 0, 0), "landlock_restrict_self");
}

/**
 * Leaves no capabilities, now or after execve. Landlock confines paths, not privileges: a root agent
 * would otherwise keep every capability (and regain them on each exec from the bounding set).
 */
export function dropCapabilities(): void {
  if (process.getuid?.() === 0 || process.geteuid?.() === 0) {
    const last = Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
    for (let cap = 0; cap <= last; cap++) check(c().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), `prctl(PR_CAPBSET_DROP, ${cap})`);
  }
  check(c().prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
  // struct __user_cap_header_struct { u32 version; int pid } and two all-zero data structs (effective, permitted, inheritable).
  const header = new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0]);
  const data = new Uint32Array(6);
  check(c().capset(ptr(header), ptr(data)), "capset");
}

export function chdir(dir: string): void {
  const name = cString(dir);
  check(c().chdir(ptr(name)), `chdir ${dir}`);
}

function pointerArray(strings: readonly Buffer[]): BigUint64Array {
  const array = new BigUint64Array(strings.length + 1);
  strings.forEach((s, i) => (array[i] = BigInt(ptr(s))));
  return array;
}

/** Replaces this process with `file`; returns only by throwing. */
export function execve(file: string, argv: readonly string[], env: Readonly<Record<string, string>>): never {
  const fileName = cString(file);
  const args = argv.map(cString);
  const vars = Object.entries(env).map(([k, v]) => cString(`${k}=${v}`));
  const argvPtrs = pointerArray(args);
  const envPtrs = pointerArray(vars);
  c().execve(ptr(fileName), ptr(argvPtrs), ptr(envPtrs));
  const e = errno();
  // Keeps the buffers alive across the call: the collector must not free what execve was reading.
  void [fileName, args, vars, argvPtrs, envPtrs];
  throw new SyscallError(`execve ${file}`, e);
}
