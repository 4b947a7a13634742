// Writes deploy/docker/seccomp-bwrap.json: a seccomp allow-list like Docker's default, plus what bubblewrap needs.
//
// Docker's default profile refuses the namespace and mount calls bubblewrap is made of. This one
// allows every system call the kernel headers name except those that change host-wide state
// (modules, clocks, swap, reboot, keyrings, accounting, kexec, BPF, perf, NUMA policy, handle
// opening) — Docker's documented blocked set — and, unlike Docker's, allows clone with namespace
// flags, unshare, mount, umount2, pivot_root and setns. Inside a container without capabilities
// those work only in a new user namespace, which is exactly what bubblewrap builds. A call the
// headers do not know (a kernel newer than the profile) is refused: regenerate after upgrades.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dir, "..");
export const PROFILE_PATH = path.join(ROOT, "deploy/docker/seccomp-bwrap.json");
const HEADERS = ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm-generic/unistd.h"];

/** What bubblewrap needs beyond Docker's default. */
export const BWRAP_SYSCALLS = ["clone", "clone3", "unshare", "mount", "umount2", "pivot_root", "setns"] as const;

/** Host-wide state no container should touch (Docker's documented blocked set, minus BWRAP_SYSCALLS). */
export const DENIED_SYSCALLS = [
  "acct", "add_key", "adjtimex", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module", "finit_module",
  "fsconfig", "fsmount", "fsopen", "fspick", "get_kernel_syms", "get_mempolicy", "init_module", "io_uring_enter",
  "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
  "mbind", "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at", "open_tree",
  "perf_event_open", "quotactl", "quotactl_fd", "reboot", "request_key", "set_mempolicy", "set_mempolicy_home_node",
  "settimeofday", "stime", "swapoff", "swapon", "sysfs", "_sysctl", "syslog", "umount", "uselib", "userfaultfd", "ustat",
  "vhangup", "vm86", "vm86old",
] as const;

function kernelSyscalls(): string[] {
  const names = new Set<string>();
  for (const header of HEADERS) {
    for (const m of readFileSync(header, "utf8").matchAll(/^#define __NR(?:3264)?_([a-z0-9_]+)\s/gm)) names.add(m[1] as string);
  }
  // Header artefacts, not calls.
  for (const n of ["syscalls", "arch_specific_syscall"]) names.delete(n);
  return [...names].sort();
}

export function buildProfile(): Record<string, unknown> {
  const denied = new Set<string>(DENIED_SYSCALLS);
  const allowed = kernelSyscalls().filter((n) => !denied.has(n));
  for (const n of BWRAP_SYSCALLS) if (!allowed.includes(n)) throw new Error(`the kernel headers do not name ${n}`);
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: 1,
    archMap: [
      { architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
      { architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"] },
    ],
    syscalls: [{ names: allowed, action: "SCMP_ACT_ALLOW" }],
  };
}

export function profileText(): string {
  return `${JSON.stringify(buildProfile(), null, 2)}\n`;
}

if (import.meta.main) {
  writeFileSync(PROFILE_PATH, profileText());
  console.log(`wrote ${path.relative(process.cwd(), PROFILE_PATH)}`);
}
