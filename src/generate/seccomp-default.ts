// runtime-tools' default seccomp profile (generate/seccomp/seccomp_default.go): an allow list, plus
// rules that depend on the process capabilities and on the (Go) architecture it was built for.
import type { Capabilities, Seccomp, Syscall } from './spec.js';

const ALLOWED = `accept accept4 access alarm bind brk capget capset chdir chmod chown chown32 clock_getres
clock_gettime clock_nanosleep close connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl
epoll_ctl_old epoll_pwait epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat
fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
ftruncate64 futex futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32
getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid
gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
io_destroy io_getevents ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset
landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek
lsetxattr lstat lstat64 madvise memfd_create mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd
msync munlock munlockall munmap nanosleep newfstatat _newselect open openat pause pipe pipe2 poll ppoll prctl pread64
preadv prlimit64 pselect6 pwrite64 pwritev read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmsg
remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rt_sigaction rt_sigpending
rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32
setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
setxattr shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigreturn socket socketcall socketpair
splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo syslog tee tgkill time
timer_create timer_delete timerfd_create timerfd_gettime timerfd_settime timer_getoverrun timer_gettime
timer_settime times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat utimes vfork
vmsplice wait4 waitid waitpid write writev`;

/** Syscalls a capability makes safe to allow. */
const BY_CAPABILITY: Record<string, string> = {
  CAP_DAC_READ_SEARCH: 'open_by_handle_at',
  CAP_SYS_ADMIN: 'bpf clone fanotify_init lookup_dcookie mount name_to_handle_at perf_event_open setdomainname sethostname setns umount umount2 unshare',
  CAP_SYS_BOOT: 'reboot',
  CAP_SYS_CHROOT: 'chroot',
  CAP_SYS_MODULE: 'delete_module init_module finit_module query_module',
  CAP_SYS_PACCT: 'acct',
  CAP_SYS_PTRACE: 'kcmp process_vm_readv process_vm_writev ptrace',
  CAP_SYS_RAWIO: 'iopl ioperm',
  CAP_SYS_TIME: 'settimeofday stime adjtimex',
  CAP_SYS_TTY_CONFIG: 'vhangup',
};

/** seccomp architectures per Go GOARCH (runtime-tools' arches()). */
const ARCHES: Record<string, string[]> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64'],
  mips64: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32'],
  mips64n32: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32'],
  mipsel64: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32'],
  mipsel64n32: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32'],
  s390x: ['SCMP_ARCH_S390', 'SCMP_ARCH_S390X'],
};

// CLONE_NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP: clone may not create namespaces.
const CLONE_NAMESPACE_FLAGS = 0x20000 | 0x4000000 | 0x8000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000;

const NODE_TO_GO: Record<string, string> = { x64: 'amd64', ia32: '386', mipsel: 'mipsle', ppc64: 'ppc64le', loong64: 'loong64' };

/** Go's GOARCH for a Node.js (`process.arch`) or Go architecture name; this host's when none is given. */
export function goArch(arch: string = process.arch): string {
  return NODE_TO_GO[arch] ?? arch;
}

const allow = (names: string, args: Syscall['args'] = []): Syscall => ({ names: names.split(/\s+/), action: 'SCMP_ACT_ALLOW', args });
const argEq = (value: number) => [{ index: 0, value, op: 'SCMP_CMP_EQ' }];

/** The default profile for a process with `caps` on Go architecture `arch`. */
export function defaultSeccompProfile(caps: Capabilities | undefined, arch: string): Seccomp {
  const syscalls: Syscall[] = [allow(ALLOWED), allow('personality', argEq(0)), allow('personality', argEq(8)), allow('personality', argEq(0xffffffff))];
  // runtime-tools walks a Go map here (random order); first appearance across the sets is stable.
  const held = new Set([...(caps?.bounding ?? []), ...(caps?.effective ?? []), ...(caps?.inheritable ?? []), ...(caps?.permitted ?? []), ...(caps?.ambient ?? [])]);
  for (const cap of held) {
    const names = BY_CAPABILITY[cap];
    if (names) syscalls.push(allow(names));
  }
  if (!held.has('CAP_SYS_ADMIN')) {
    syscalls.push(allow('clone', [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]));
  }
  switch (arch) {
    case 'arm':
    case 'arm64':
      syscalls.push(allow('breakpoint cacheflush set_tls'));
      break;
    case 'amd64':
    case 'x32':
      syscalls.push(allow('arch_prctl'), allow('modify_ldt'));
      break;
    case 'x86':
      syscalls.push(allow('modify_ldt'));
      break;
    case 's390':
    case 's390x':
      syscalls.push(allow('s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr'));
      // clone's flags are its second argument on s390.
      syscalls.push(allow('clone', [{ index: 1, value: 2080505856, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]));
      break;
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', architectures: [...(ARCHES[arch] ?? [])], syscalls };
}
